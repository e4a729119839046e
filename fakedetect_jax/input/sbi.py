"""Self-blended images (Shiohara and Yamasaki, CVPR 2022): pseudo-fakes made from real faces only.

A real face is blended with a slightly altered copy of itself, so the result carries the
generic traces of face swapping (a blending boundary, colour and sharpness mismatch, a small
misalignment) without the artefacts of any one manipulation method; a detector trained on them
generalises across methods. Steps, as in the paper:
  1. source-target generator: colour jitter (RGB shift, hue/saturation, brightness/contrast)
     and a frequency change (down-and-up scaling or sharpening) on one of two copies (chosen at
     random), then a small affine change (scale 0.95-1.05, shift up to 3% x / 1.5% y) of the source;
  2. mask generator: the convex hull of the facial landmarks when given, else an ellipse on the
     face crop; elastically deformed, grown or shrunk, blurred twice, times a blend ratio drawn
     from {0.25, 0.5, 0.75, 1, 1, 1};
  3. blend: source * mask + target * (1 - mask).
numpy / scipy / Pillow only; a 256 px face takes a few milliseconds.
"""
import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.spatial import ConvexHull
from skimage import draw

BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)


def face_mask(shape, rng, landmarks=None):
  """Hard {0, 1} float mask [H, W]: the landmarks' convex hull, or an elliptical face region
  (centre a little below the crop's middle, where aligned face crops put the face)."""
  h, w = shape
  mask = np.zeros((h, w), np.float32)
  if landmarks is not None and len(landmarks) >= 3:
    pts = np.asarray(landmarks, np.float64)[:, :2]
    poly = pts[ConvexHull(pts).vertices]
    rr, cc = draw.polygon(poly[:, 1], poly[:, 0], (h, w))
  else:
    cy, cx = h * rng.uniform(0.5, 0.6), w * rng.uniform(0.45, 0.55)
    ry, rx = h * rng.uniform(0.36, 0.44), w * rng.uniform(0.28, 0.36)
    rr, cc = draw.ellipse(cy, cx, ry, rx, (h, w), rotation=rng.uniform(-0.15, 0.15))
  mask[rr, cc] = 1.0
  return mask


def elastic(mask, rng, alpha=50.0, sigma=7.0):
  """Smooth random warp of a mask (alpha, sigma in pixels at 256 px, scaled to the mask)."""
  h, w = mask.shape
  k = max(h, w) / 256
  dy, dx = (ndimage.gaussian_filter(rng.uniform(-1, 1, (h, w)), sigma * k) * alpha * k
            for _ in range(2))
  yy, xx = np.mgrid[:h, :w]
  return ndimage.map_coordinates(mask, (yy + dy, xx + dx), order=1, mode="constant")


def soft_mask(mask, rng):
  """Grow or shrink the region a little, blur it twice with random widths, times a blend ratio."""
  h, w = mask.shape
  k = max(h, w) / 256
  r = int(round(rng.uniform(-6, 6) * k))
  if r:
    structure = np.ones((2 * abs(r) + 1,) * 2, bool)
    op = ndimage.binary_dilation if r > 0 else ndimage.binary_erosion
    grown = op(mask > 0.5, structure)
    mask = grown.astype(np.float32) if grown.any() else mask
  for _ in range(2):
    mask = ndimage.gaussian_filter(mask, rng.uniform(1, 6) * k)
    mask = mask / max(mask.max(), 1e-6)
  return (mask * rng.choice(BLEND_RATIOS)).astype(np.float32)


def _colour(x, rng):
  if rng.random() < 0.3:
    x = x + rng.uniform(-20, 20, 3)                        # RGB shift
  gray = x @ np.array([0.299, 0.587, 0.114])
  x = (x - gray[..., None]) * (1 + rng.uniform(-0.3, 0.3)) + gray[..., None]  # saturation
  b, c = 1 + rng.uniform(-0.1, 0.1, 2)
  return (x - x.mean()) * c + x.mean() * b                 # contrast, brightness


def _frequency(x, rng):
  h, w = x.shape[:2]
  if rng.random() < 0.5:  # down-and-up scaling by 2-4x: lost high frequencies
    f = rng.uniform(2, 4)
    img = Image.fromarray(np.clip(x, 0, 255).astype(np.uint8))
    small = img.resize((max(1, round(w / f)), max(1, round(h / f))), Image.BILINEAR)
    return np.asarray(small.resize((w, h), Image.BILINEAR), np.float64)
  blurred = ndimage.gaussian_filter(x, (1, 1, 0))        # unsharp mask: added high frequencies
  return x + rng.uniform(0.2, 0.5) * 2 * (x - blurred)


def _affine(x, mask, rng):
  """The source (and the mask with it) scaled about the centre and shifted slightly."""
  h, w = mask.shape
  s = rng.uniform(0.95, 1 / 0.95)
  tx, ty = rng.uniform(-0.03, 0.03) * w, rng.uniform(-0.015, 0.015) * h
  # Output pixel (u, v) samples input at ((u - cx - tx) / s + cx, ...): PIL wants that inverse map.
  cx, cy = w / 2, h / 2
  coeffs = (1 / s, 0, cx - (cx + tx) / s, 0, 1 / s, cy - (cy + ty) / s)
  warp = lambda a, mode: np.asarray(Image.fromarray(a).transform((w, h), Image.AFFINE, coeffs,
                                                                 resample=mode))
  src = np.stack([warp(x[..., c].astype(np.float32), Image.BILINEAR) for c in range(3)], -1)
  return src.astype(np.float64), warp(mask.astype(np.float32), Image.BILINEAR)


def self_blend(image, rng, landmarks=None):
  """uint8 [H, W, 3] real face -> (uint8 self-blended pseudo-fake, float mask [H, W] in [0, 1]).

  `landmarks`: optional [N, 2] (x, y) pixel positions in this crop (e.g. the face mesh's).
  """
  x = np.asarray(image, np.float64)
  source, target = x.copy(), x.copy()
  altered = _frequency(_colour(x.copy(), rng), rng)
  if rng.random() < 0.5:
    source = altered
  else:
    target = altered
  mask = face_mask(x.shape[:2], rng, landmarks)
  source, mask = _affine(source, mask, rng)
  mask = soft_mask(elastic(mask, rng), rng)[..., None]
  blended = source * mask + target * (1 - mask)
  return np.clip(np.rint(blended), 0, 255).astype(np.uint8), mask[..., 0]


def self_blend_batch(images, rng, landmarks=None):
  """Every face of a uint8 batch self-blended; returns (images, masks)."""
  out = [self_blend(im, rng, None if landmarks is None else landmarks[i])
         for i, im in enumerate(images)]
  return np.stack([o[0] for o in out]), np.stack([o[1] for o in out])
