"""Host-side augmentations on uint8 face batches: self-blended pseudo-fakes and robustness
distortions (JPEG re-compression, blur, noise, colour, down-and-up scaling).

The same distortions serve evaluation: `perturb(images, kind, level)` applies one at a fixed
severity 1-5 (DeeperForensics-1.0 style), so a trained detector can be scored on degraded copies
of the test set.

Training use, once per host batch before it goes to the devices (numpy, no JAX):

    rng = np.random.default_rng([config.seed, step, jax.process_index()])   # resumable
    images, labels = augment.apply_augmentations(images, labels, rng, config.augment)

Config fields read from `cfg` (config.augment; a missing field means off, see DEFAULTS):
  sbi              probability that a real frame (label 0) becomes a self-blended fake (label 1)
  jpeg, blur, noise, color, downscale
                   probability that a frame gets that distortion (independently; fakes and reals
                   alike, so a distortion never tells the classes apart)
  jpeg_quality     (lo, hi) JPEG quality drawn uniformly
  blur_sigma       (lo, hi) Gaussian blur sigma, pixels
  noise_std        (lo, hi) Gaussian noise standard deviation, pixel units (0-255)
  color_strength   max relative change of brightness, contrast, saturation; hue turns by up to
                   strength * 90 degrees
  downscale_range  (lo, hi) scale of the down-and-up resize

Cost per 256 px face on one core, roughly: colour 0.06 ms (one fused 3x4 colour matrix), blur
0.3 ms (OpenCV in float32 with the kernel scipy.ndimage would use), JPEG 0.4 ms (Pillow,
libjpeg-turbo), noise 0.6 ms (Box-Muller float32 normals), down-and-up 0.7 ms (Pillow's
resize), self-blending about 3 ms (sbi.py).
"""
import io

import cv2
import numpy as np
from PIL import Image

from fakedetect_jax.input import sbi as sbi_lib

DEFAULTS = dict(
    sbi=0.0,
    jpeg=0.0,
    blur=0.0,
    noise=0.0,
    color=0.0,
    downscale=0.0,
    jpeg_quality=(30, 95),
    blur_sigma=(0.5, 2.0),
    noise_std=(2.0, 10.0),
    color_strength=0.2,
    downscale_range=(0.3, 0.8))


def config_fields(**overrides):
  """DEFAULTS with overrides, for a config file: c.augment.update(augment.config_fields(sbi=.5))."""
  unknown = set(overrides) - set(DEFAULTS)
  if unknown:
    raise ValueError(f"unknown augmentation fields {sorted(unknown)}; known: {sorted(DEFAULTS)}")
  return {**DEFAULTS, **overrides}


def enabled(cfg):
  """Whether any host-side augmentation of cfg (config.augment) is switched on."""
  return any(_get(cfg, k) > 0 for k in ("sbi", "jpeg", "blur", "noise", "color", "downscale"))


def uses_landmarks(cfg):
  """Whether cfg's augmentations read each row's face landmarks (self-blending does)."""
  return _get(cfg, "sbi") > 0


# Evaluation severities 1..5 per distortion (mildest first).
LEVELS = {
    "jpeg": (90, 70, 50, 30, 15),  # quality
    "blur": (0.5, 1.0, 1.5, 2.0, 3.0),  # sigma, pixels
    "noise": (2.0, 4.0, 8.0, 12.0, 20.0),  # std, pixel units
    "color": (0.1, 0.2, 0.3, 0.4, 0.5),  # color_strength
    "downscale": (0.8, 0.65, 0.5, 0.35, 0.25),  # scale
}


def jpeg(image, quality):
  """One uint8 [H, W, 3] image through JPEG at `quality` (1-95) and back."""
  buf = io.BytesIO()
  Image.fromarray(image).save(buf, format="JPEG", quality=int(quality))
  buf.seek(0)
  with Image.open(buf) as decoded:
    return np.asarray(decoded if decoded.mode == "RGB" else decoded.convert("RGB"))


def blur(image, sigma):
  """Gaussian blur of each channel: scipy.ndimage.gaussian_filter's kernel (truncated at 4
  sigma, reflected borders) in float32, through OpenCV."""
  return _to_uint8(sbi_lib.gaussian(image.astype(np.float32), sigma))


def noise(image, std, rng):
  """Additive Gaussian noise of standard deviation `std`."""
  x = standard_normal(rng, image.shape)
  x *= np.float32(std)
  x += image
  return _to_uint8(x)


def standard_normal(rng, shape):
  """float32 N(0, 1) samples drawn from `rng`: the Box-Muller transform of float32 uniforms
  (about 3x faster than Generator.standard_normal for an image's worth)."""
  n = int(np.prod(shape))
  half = (n + 1) // 2
  u = rng.random((2, half), dtype=np.float32)
  radius = np.sqrt(np.float32(-2) * np.log1p(-u[0]))  # 1 - u in (0, 1]
  angle = u[1] * np.float32(2 * np.pi)
  out = np.empty(2 * half, np.float32)
  np.multiply(radius, np.cos(angle), out=out[:half])
  np.multiply(radius, np.sin(angle), out=out[half:])
  return out[:n].reshape(shape)


def down_up(image, scale):
  """Down to `scale` of the size (area averaging) and back up (bilinear): lost detail, as in
  low-resolution uploads."""
  h, w = image.shape[:2]
  small = Image.fromarray(image).resize((max(1, round(w * scale)), max(1, round(h * scale))),
                                        Image.BOX)
  return np.asarray(small.resize((w, h), Image.BILINEAR))


def color(image, strength, rng):
  """Random brightness, contrast, saturation (each x(1 +- strength)) and hue rotation.

  In order: x * b; (x - mean) * c + mean (mean over the whole image); gray + (x - gray) * s;
  hue_rotate. Every step is affine in a pixel's RGB, so the four are one 3x4 matrix applied
  by OpenCV (uint8 in, rounded and saturated uint8 out), the mean taken from the input's."""
  b, c, s = 1 + rng.uniform(-strength, strength, 3)
  angle = rng.uniform(-strength, strength) * np.pi / 2
  gray = np.array([0.299, 0.587, 0.114])
  mean = b * float(np.mean(cv2.mean(image)[:3]))  # mean of x * b
  sat = s * np.eye(3) + (1 - s) * np.outer(np.ones(3), gray)
  hue_sat = hue_matrix(angle) @ sat
  linear = hue_sat * (b * c)
  offset = hue_sat @ np.full(3, (1 - c) * mean)
  m = np.concatenate([linear, offset[:, None]], axis=1).astype(np.float32)
  return cv2.transform(np.ascontiguousarray(image, np.uint8), m)


def hue_matrix(angle):
  """The 3x3 RGB matrix that rotates hue by `angle` radians: a rotation of the chroma plane
  of YIQ (luma kept)."""
  to_yiq = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
  cos, sin = np.cos(angle), np.sin(angle)
  rot = np.array([[1, 0, 0], [0, cos, -sin], [0, sin, cos]])
  return np.linalg.inv(to_yiq) @ rot @ to_yiq


def hue_rotate(x, angle):
  """Rotates hue of float RGB pixels x [..., 3] by `angle` radians (see hue_matrix)."""
  return x @ hue_matrix(angle).T.astype(np.float32)


def _to_uint8(x):
  return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _get(cfg, key):
  if cfg is None:
    return DEFAULTS[key]
  value = cfg.get(key, DEFAULTS[key]) if hasattr(cfg, "get") else getattr(cfg, key, DEFAULTS[key])
  return DEFAULTS[key] if value is None else value


def distort(image, kind, rng, cfg=None, level=None):
  """One distortion on one image, with its strength drawn from cfg's range or, given `level`
  (1-5), fixed by LEVELS."""
  if kind not in LEVELS:
    raise ValueError(f"unknown distortion {kind!r}; known: {', '.join(LEVELS)}")
  fixed = None if level is None else LEVELS[kind][level - 1]
  if kind == "jpeg":
    return jpeg(
        image,
        fixed if fixed is not None else rng.integers(*_range(cfg, "jpeg_quality"), endpoint=True))
  if kind == "blur":
    return blur(image, fixed if fixed is not None else rng.uniform(*_range(cfg, "blur_sigma")))
  if kind == "noise":
    return noise(image, fixed if fixed is not None else rng.uniform(*_range(cfg, "noise_std")), rng)
  if kind == "color":
    return color(image, fixed if fixed is not None else _get(cfg, "color_strength"), rng)
  return down_up(image,
                 fixed if fixed is not None else rng.uniform(*_range(cfg, "downscale_range")))


def _range(cfg, key):
  lo, hi = _get(cfg, key)
  return lo, hi


def apply_augmentations(images, labels, rng, cfg, landmarks=None):
  """uint8 [B, H, W, 3], int labels [B] -> augmented copies (inputs untouched).

  First self-blending (real frames only, before any distortion, as the pseudo-fake must be
  made from a clean face), then each robustness distortion with its own probability.
  `landmarks` ([B, N, 2] (x, y) continuous pixel coordinates in each image, optional; NaN rows
  for frames stored without a face) shape the SBI blending mask: the hull variants of sbi.py
  where given, an ellipse where not.
  """
  images, labels = np.array(images, copy=True), np.array(labels, copy=True)
  p_sbi = _get(cfg, "sbi")
  if p_sbi > 0:
    for i in np.flatnonzero((labels == 0) & (rng.random(len(labels)) < p_sbi)):
      images[i], _ = sbi_lib.self_blend(images[i], rng, None if landmarks is None else landmarks[i])
      labels[i] = 1
  for kind in ("color", "blur", "downscale", "noise", "jpeg"):  # JPEG last, as on upload
    p = _get(cfg, kind)
    if p > 0:
      for i in np.flatnonzero(rng.random(len(images)) < p):
        images[i] = distort(images[i], kind, rng, cfg)
  return images, labels


def perturb(images, kind, level, seed=0):
  """Evaluation copy of a uint8 batch with one distortion at severity `level` (1-5); the same
  seed gives the same noise, so every model sees the same degraded test set."""
  if not 1 <= level <= 5:
    raise ValueError(f"perturbation level {level}: expected 1-5")
  rng = np.random.default_rng(seed)
  return np.stack([distort(image, kind, rng, level=level) for image in images])
