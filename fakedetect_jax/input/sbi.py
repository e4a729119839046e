"""Self-blended images (Shiohara and Yamasaki, CVPR 2022): pseudo-fakes made from real faces only.

A real face is blended with a slightly altered copy of itself, so the result carries the
generic traces of face swapping (a blending boundary, colour and sharpness mismatch, a small
misalignment) without the artefacts of any one manipulation method; a detector trained on them
generalises across methods. Steps, as in the paper and its code (mapooon/SelfBlendedImages,
src/utils/sbi.py and blend.py):
  1. source-target generator: colour jitter (RGB shift, hue/saturation, brightness/contrast)
     and a frequency change (down-and-up scaling or sharpening) on one of two copies (chosen at
     random), then a small affine change (scale 0.95-1.05, shift up to 3% x / 1.5% y) of the
     source and the mask;
  2. mask generator: from the face landmarks (the dataset's stored 81-point layout,
     media/landmarks.py FACE_POINTS) their landmark augmentation: with probability 0.25 the 13
     forehead points are dropped, then one of Face X-ray's four hull variants is drawn
     (HULL_VARIANTS: the DeepFaceLab mask, the extended and the component masks, the whole
     convex hull), each a union of convex hulls of landmark groups; without landmarks an
     ellipse on the face crop. The mask then follows the affine change and an elastic
     deformation (alpha 50, sigma 7, nearest-neighbour like Albumentations' mask handling);
  3. blend mask (their get_blend_mask): resized to a random 192-256 px grid, blurred, cut to
     where the blur reaches its peak (an erosion by the kernel radius), blurred again, resized
     back, times a blend ratio drawn from {0.25, 0.5, 0.75, 1, 1, 1};
  4. blend: source * mask + target * (1 - mask).
What differs from their code, and why: their landmarks come from dlib's 81-point model on the
full frame, ours from the face mesh (the same index layout, mesh points picked to match); they
resize the mask grid from a crop with margins of half the face width each side, one face height
above and 0.4 below, ours is the stored face crop, so the grid is sized from the landmarks' box
as theirs would be (same blur relative to the face); their erosion keeps pixels whose blur
equals the peak exactly (floating-point luck decides which), ours those within 1e-6 of it;
the elastic displacement is clipped at 8 px (7 standard deviations: in practice never reached)
so the mask's reach has a bound (mask_bounds). Their horizontal flip and random face-crop
margins are generic augmentation, not part of the pseudo-fake, and are not done here.
Filtering and warping run in float32 through OpenCV (Gaussian kernels truncated at 4 sigma with
reflected borders, as scipy.ndimage's, for the image; OpenCV's own kernels for the blend mask,
as theirs); the affine warp samples as Pillow's AFFINE/BILINEAR transform does; the frequency
change's down-and-up scaling is Pillow's antialiased resize. A 256 px face takes a few ms.
"""
import cv2
import numpy as np
from PIL import Image
from scipy.spatial import ConvexHull, QhullError

BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)
_GRAY = np.array([0.299, 0.587, 0.114])  # luma weights of R, G, B

# Face X-ray's mask variants (AlgoHunt/Face-Xray DeepFakeMask.py: dfl_full, extended,
# components, facehull), SBI's landmark augmentation: groups of iBUG-68 indices, each group's
# convex hull filled. "extended" is "components" with the brows raised (_raised_brows);
# "hull" takes every point given (68, or 81 with the forehead).
_JAW = list(range(0, 17))
_COMPONENTS = (
    list(range(0, 9)) + [17],  # right jaw
    list(range(8, 17)) + [26],  # left jaw
    [17, 18, 19, 8],  # right cheek
    [24, 25, 26, 8],  # left cheek
    list(range(19, 25)) + [8],  # nose ridge
    list(range(17, 22)) + [27] + list(range(31, 36)) + [8],  # right eye
    list(range(22, 27)) + [27] + list(range(31, 36)) + [8],  # left eye
    list(range(27, 36)),  # nose
)
_DFL_FULL = (
    _JAW + list(range(48, 68)) + [0, 8, 16],  # jaw and lips
    [27, 28, 29, 30, 33],  # nose ridge
    list(range(17, 27)) + [0, 27, 16, 33],  # brows and eyes
)
HULL_VARIANTS = ("dfl_full", "extended", "components", "hull")
P_DROP_FOREHEAD = 0.25  # SBI: landmark = landmark[:68] with this probability

# Bounds of the mask's deformation (mask_bounds), at a 256 px crop.
AFFINE_SCALE, AFFINE_SHIFT = 0.95, (0.03, 0.015)  # scale in [s, 1/s]; shift, of width / height
ELASTIC_ALPHA, ELASTIC_SIGMA, ELASTIC_MAX = 50.0, 7.0, 8.0
GRID, KERNELS = (192, 256), (5, 25)  # blend-mask grid side and odd Gaussian kernel sizes
_MARGINS = (2.0, 2.4)  # their crop around the landmarks' box: width, height in box sides


def gaussian(x, sigma):
  """scipy.ndimage.gaussian_filter(x, (sigma, sigma[, 0])) (truncate 4, mode 'reflect') of a
  float32 [H, W] or [H, W, C] array, through OpenCV (about 10x faster)."""
  radius = int(4.0 * float(sigma) + 0.5)
  if radius < 1:
    return np.asarray(x, np.float32)
  k = 2 * radius + 1
  return cv2.GaussianBlur(
      np.asarray(x, np.float32), (k, k), float(sigma), borderType=cv2.BORDER_REFLECT)


def usable(landmarks):
  """Whether a frame's landmarks can shape a hull: at least 3 points, all finite (a frame
  stored without a face has NaN landmarks)."""
  return landmarks is not None and len(landmarks) >= 3 and bool(
      np.isfinite(np.asarray(landmarks, np.float64)).all())


def fill_hull(mask, points):
  """mask[r, c] = 1 where the pixel centre (c + 0.5, r + 0.5) lies inside the convex hull of
  points [N, 2] ((x, y), continuous coordinates: pixel i spans [i, i + 1)). False when the
  points span no area (nothing filled)."""
  pts = np.asarray(points, np.float64)
  try:
    hull = pts[ConvexHull(pts).vertices]  # counter-clockwise in (x, y)
  except QhullError:
    return False
  h, w = mask.shape
  x0, y0 = (max(int(np.floor(v - 0.5)), 0) for v in hull.min(0))
  x1, y1 = min(int(np.ceil(hull[:, 0].max())), w), min(int(np.ceil(hull[:, 1].max())), h)
  if x1 <= x0 or y1 <= y0:
    return True
  px = (np.arange(x0, x1) + 0.5)[None, :]
  py = (np.arange(y0, y1) + 0.5)[:, None]
  inside = np.ones((y1 - y0, x1 - x0), bool)
  for (ax, ay), (bx, by) in zip(hull, np.roll(hull, -1, 0)):
    inside &= (bx - ax) * (py - ay) - (by - ay) * (px - ax) >= 0  # left of each edge
  mask[y0:y1, x0:x1][inside] = 1.0
  return True


def _raised_brows(lm):
  """Face X-ray's "extended" mask: each brow point moved up by half its distance from the eye
  line below it (points between the face side and the outer eye corner close the row)."""
  lm = np.array(lm, np.float64)
  ql = lm[36] + ((lm[36] + lm[0]) / 2 - lm[36]) / 2
  qr = lm[45] + ((lm[16] + lm[45]) / 2 - lm[45]) / 2
  below_r = np.stack([ql, lm[36], lm[37], lm[38], lm[39]])
  below_l = np.stack([lm[42], lm[43], lm[44], lm[45], qr])
  lm[17:22] += (lm[17:22] - below_r) / 2
  lm[22:27] += (lm[22:27] - below_l) / 2
  return lm


def variant_parts(landmarks, variant):
  """The landmark groups [k, 2] whose convex hulls make up one HULL_VARIANTS mask (landmarks:
  the 81-point layout, or its first 68)."""
  lm = np.asarray(landmarks, np.float64)
  if variant == "hull" or len(lm) < 68:
    return [lm]
  if variant == "extended":
    lm = _raised_brows(lm)
  groups = _DFL_FULL if variant == "dfl_full" else _COMPONENTS
  return [lm[g] for g in groups]


def variant_mask(shape, landmarks, variant):
  """Hard {0, 1} float mask [H, W] of one variant: the union of its groups' hull fills."""
  mask = np.zeros(shape, np.float32)
  for part in variant_parts(landmarks, variant):
    fill_hull(mask, part)
  return mask


def face_mask(shape, rng, landmarks=None):
  """Hard {0, 1} float mask [H, W]. With 68+ landmarks (the stored 81-point layout) SBI's
  landmark augmentation: the forehead points dropped with probability P_DROP_FOREHEAD, then a
  random HULL_VARIANTS mask; with fewer points their convex hull; without usable landmarks an
  elliptical face region (centre a little below the crop's middle, where face crops put it)."""
  h, w = shape
  if usable(landmarks):
    lm = np.asarray(landmarks, np.float64)[:, :2]
    if len(lm) > 68 and rng.random() < P_DROP_FOREHEAD:
      lm = lm[:68]
    mask = variant_mask(shape, lm, HULL_VARIANTS[rng.integers(len(HULL_VARIANTS))])
    if mask.any():
      return mask
  mask = np.zeros((h, w), np.float32)
  cy, cx = h * rng.uniform(0.5, 0.6), w * rng.uniform(0.45, 0.55)
  ry, rx = h * rng.uniform(0.36, 0.44), w * rng.uniform(0.28, 0.36)
  _fill_ellipse(mask, cy, cx, ry, rx, rng.uniform(-0.15, 0.15))
  return mask


def face_box(landmarks, mask):
  """(width, height) of the face the blend mask's grid is sized by: the box of the first 68
  landmarks (as SBI's crop), else of the mask."""
  if usable(landmarks):
    lm = np.asarray(landmarks, np.float64)[:68, :2]
    return tuple(np.maximum(lm.max(0) - lm.min(0), 1.0))
  rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
  if not len(rows):
    return float(mask.shape[1]), float(mask.shape[0])
  return float(cols[-1] - cols[0] + 1), float(rows[-1] - rows[0] + 1)


def mask_bounds(shape, box, centre_reach=None):
  """How far the final mask can stray from the hard mask, in pixels of a crop of `shape` with
  face box `box` = (width, height): (move, reach).

  move: the most the affine change (about the crop centre; `centre_reach`: the farthest mask
  pixel from it, default the crop's corner), the clipped elastic warp and their nearest-neighbour
  rounding shift any mask point. reach (x, y): with g crop pixels per blend-mask grid pixel at
  the coarsest grid, (KERNELS[1] // 2 + 2) g + 1: the blend mask is zero further than that
  outside the moved mask (second blur, two resizes) and positive further than that inside it
  (a pixel that deep survives the erosion, and the second blur keeps it)."""
  h, w = shape
  k = max(h, w) / 256
  reach = np.hypot(w, h) / 2 if centre_reach is None else centre_reach
  move = ((1 / AFFINE_SCALE - 1) * reach + np.hypot(AFFINE_SHIFT[0] * w, AFFINE_SHIFT[1] * h) +
          ELASTIC_MAX * k + 1.0)
  return move, tuple(
      (KERNELS[1] // 2 + 2) * m * side / GRID[0] + 1 for m, side in zip(_MARGINS, box))


def _fill_ellipse(mask, r, c, r_radius, c_radius, rotation):
  """mask[skimage.draw.ellipse(r, c, r_radius, c_radius, mask.shape, rotation)] = 1, the same
  pixels, tested on the ellipse's bounding box in place (no coordinate lists)."""
  rotation %= np.pi
  sin, cos = np.sin(rotation), np.cos(rotation)
  rad_r = abs(r_radius * cos) + c_radius * sin
  rad_c = r_radius * sin + abs(c_radius * cos)
  r0, c0 = max(int(np.ceil(r - rad_r)), 0), max(int(np.ceil(c - rad_c)), 0)
  r1 = min(int(np.floor(r + rad_r)), mask.shape[0] - 1)
  c1 = min(int(np.floor(c + rad_c)), mask.shape[1] - 1)
  if r1 < r0 or c1 < c0:
    return
  dr = (np.arange(r1 - r0 + 1, dtype=np.float64) - (r - r0))[:, None]
  dc = (np.arange(c1 - c0 + 1, dtype=np.float64) - (c - c0))[None, :]
  inside = (((dr * cos + dc * sin) / r_radius)**2 + ((dr * sin - dc * cos) / c_radius)**2) < 1
  mask[r0:r1 + 1, c0:c1 + 1][inside] = 1.0


def elastic(mask, rng, alpha=ELASTIC_ALPHA, sigma=ELASTIC_SIGMA):
  """Smooth random warp of a hard mask (alpha, sigma in pixels at 256 px, scaled to the mask),
  sampled nearest-neighbour as Albumentations warps masks; displacements clipped at
  ELASTIC_MAX."""
  h, w = mask.shape
  k = max(h, w) / 256
  # Displacements d = alpha * blur(uniform noise in [-1, 1)); with u uniform in [0, 1),
  # blur(2u - 1) = 2 blur(u) - 1 (the kernel sums to 1, borders reflect).
  u = rng.random((2, h, w), dtype=np.float32)
  a, cap = np.float32(alpha * k), np.float32(ELASTIC_MAX * k)
  dy = np.clip(gaussian(u[0], sigma * k) * (2 * a) - a, -cap, cap)
  dx = np.clip(gaussian(u[1], sigma * k) * (2 * a) - a, -cap, cap)
  map_y = dy + np.arange(h, dtype=np.float32)[:, None]
  map_x = dx + np.arange(w, dtype=np.float32)[None, :]
  return cv2.remap(
      np.asarray(mask, np.float32),
      map_x,
      map_y,
      cv2.INTER_NEAREST,
      borderMode=cv2.BORDER_CONSTANT,
      borderValue=0)


def blend_mask(mask, rng, box):
  """SBI's get_blend_mask on a hard mask [H, W], times a blend ratio: float32 [H, W] in [0, 1].

  The mask goes onto a grid of GRID px a side (drawn per axis) spanning what SBI's crop spans
  (_MARGINS times the face box `box` = (width, height)), is blurred with an odd kernel of
  KERNELS (OpenCV's sigma for that size), cut to where the blur is at its peak, blurred with
  another kernel and sigma 5-45 (the kernel truncates it), and comes back to the crop's size."""
  h, w = mask.shape
  gw, gh = (int(rng.integers(GRID[0], GRID[1] + 1)) for _ in range(2))
  sx, sy = gw / (_MARGINS[0] * box[0]), gh / (_MARGINS[1] * box[1])
  size = (max(1, int(round(w * sx))), max(1, int(round(h * sy))))
  m = cv2.resize(np.asarray(mask, np.float32), size, interpolation=cv2.INTER_LINEAR)
  k1, k2 = (int(rng.choice(np.arange(KERNELS[0], KERNELS[1] + 1, 2))) for _ in range(2))
  sigma2 = float(rng.integers(5, 46))
  blurred = cv2.GaussianBlur(m, (k1, k1), 0)
  peak = float(blurred.max())
  if peak <= 0:
    return np.zeros_like(mask, np.float32)
  core = (blurred >= peak * (1 - 1e-6)).astype(np.float32)
  out = cv2.GaussianBlur(core, (k2, k2), sigma2)
  out = cv2.resize(out / out.max(), (w, h), interpolation=cv2.INTER_LINEAR)
  return np.clip(out, 0, 1) * np.float32(rng.choice(BLEND_RATIOS))


def _colour(x, rng):
  """RGB shift (x + t), saturation (gray + (x - gray) * sat), then contrast and brightness
  ((x - mean) * c + mean * b, mean over the whole image): all affine in the pixel's RGB, so
  applied as one 3x4 matrix (OpenCV's transform) with the mean taken from the input's."""
  shift = rng.uniform(-20, 20, 3) if rng.random() < 0.3 else np.zeros(3)  # RGB shift
  sat = 1 + rng.uniform(-0.3, 0.3)
  b, c = 1 + rng.uniform(-0.1, 0.1, 2)
  S = sat * np.eye(3) + (1 - sat) * np.outer(np.ones(3), _GRAY)  # saturation about the gray
  channel_mean = np.asarray(cv2.mean(x)[:3]) + shift
  mean = float(np.mean(S @ channel_mean))  # mean of the saturated image
  m = np.concatenate([c * S, (c * S @ shift + (b - c) * mean)[:, None]], axis=1)
  return cv2.transform(np.asarray(x, np.float32), m.astype(np.float32))


def _frequency(x, rng):
  h, w = x.shape[:2]
  if rng.random() < 0.5:  # down-and-up scaling by 2-4x: lost high frequencies
    f = rng.uniform(2, 4)
    img = Image.fromarray(np.clip(x, 0, 255).astype(np.uint8))
    small = img.resize((max(1, round(w / f)), max(1, round(h / f))), Image.BILINEAR)
    return np.asarray(small.resize((w, h), Image.BILINEAR), np.float32)
  blurred = gaussian(x, 1)  # unsharp mask: added high frequencies
  amount = rng.uniform(0.2, 0.5) * 2
  return cv2.addWeighted(x, 1 + amount, blurred, -amount, 0)  # x + amount * (x - blurred)


def _affine(x, mask, rng):
  """The source (and the mask with it, nearest-neighbour) scaled about the centre and shifted
  slightly."""
  h, w = mask.shape
  s = rng.uniform(AFFINE_SCALE, 1 / AFFINE_SCALE)
  tx = rng.uniform(-AFFINE_SHIFT[0], AFFINE_SHIFT[0]) * w
  ty = rng.uniform(-AFFINE_SHIFT[1], AFFINE_SHIFT[1]) * h
  # Output pixel (u, v) samples input at ((u - cx - tx) / s + cx, ...) (pixel centres at +0.5),
  # bilinearly, zero where that point falls outside the image: Pillow's AFFINE/BILINEAR
  # transform, done by OpenCV on all channels at once (edge pixels replicated up to the border).
  cx, cy = w / 2, h / 2
  a, c = 1 / s, cx - (cx + tx) / s  # x_in = a * (u + 0.5) + c, continuous coordinates
  e, f = 1 / s, cy - (cy + ty) / s
  m = np.array([[a, 0, c + 0.5 * a - 0.5], [0, e, f + 0.5 * e - 0.5]])  # in pixel indices
  # Output rows y0..y1-1 and columns x0..x1-1 sample inside the image; the rest is zero.
  x0, x1 = _inside(a, c, w)
  y0, y1 = _inside(e, f, h)

  def warp(img, interpolation):
    out = cv2.warpAffine(
        np.asarray(img, np.float32),
        m, (w, h),
        flags=interpolation | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE)
    out[:y0], out[y1:], out[:, :x0], out[:, x1:] = 0, 0, 0, 0
    return out

  return warp(x, cv2.INTER_LINEAR), warp(mask, cv2.INTER_NEAREST)


def _inside(scale, offset, n):
  """The output range [lo, hi) whose pixel centres map (scale * (u + 0.5) + offset, scale > 0)
  into [0, n)."""
  u = scale * (np.arange(n) + 0.5) + offset
  ok = np.flatnonzero((u >= 0) & (u < n))
  return (int(ok[0]), int(ok[-1]) + 1) if len(ok) else (0, 0)


def self_blend(image, rng, landmarks=None):
  """uint8 [H, W, 3] real face -> (uint8 self-blended pseudo-fake, float mask [H, W] in [0, 1]).

  `landmarks`: optional [N, 2] (x, y) continuous pixel coordinates in this crop: the stored
  81-point layout (views.to_model_inputs scales it to the crop), or any points whose hull is
  the face; None or non-finite (a frame stored without a face): the ellipse.
  """
  x = np.asarray(image, np.float32)
  source, target = x, x
  altered = _frequency(_colour(x, rng), rng)
  if rng.random() < 0.5:
    source = altered
  else:
    target = altered
  hard = face_mask(x.shape[:2], rng, landmarks)
  source, mask = _affine(source, hard, rng)
  mask = blend_mask(elastic(mask, rng), rng, face_box(landmarks, hard))
  # source * mask + target * (1 - mask) = target + (source - target) * mask, rounded to uint8
  # (half to even, saturated).
  change = cv2.multiply(cv2.subtract(source, target), cv2.merge([mask] * x.shape[-1]))
  return cv2.add(target, change, dtype=cv2.CV_8U), mask


def self_blend_batch(images, rng, landmarks=None):
  """Every face of a uint8 batch self-blended; returns (images, masks)."""
  out = [
      self_blend(im, rng, None if landmarks is None else landmarks[i])
      for i, im in enumerate(images)
  ]
  return np.stack([o[0] for o in out]), np.stack([o[1] for o in out])
