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
Filtering, warping and morphology run in float32 through OpenCV (Gaussian kernels truncated at
4 sigma with reflected borders, as scipy.ndimage's; the affine warp samples as Pillow's
AFFINE/BILINEAR transform does); the frequency change's down-and-up scaling is Pillow's
antialiased resize. A 256 px face takes a few milliseconds.
"""
import cv2
import numpy as np
from PIL import Image
from scipy.spatial import ConvexHull
from skimage import draw

BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)
_GRAY = np.array([0.299, 0.587, 0.114])  # luma weights of R, G, B


def gaussian(x, sigma):
  """scipy.ndimage.gaussian_filter(x, (sigma, sigma[, 0])) (truncate 4, mode 'reflect') of a
  float32 [H, W] or [H, W, C] array, through OpenCV (about 10x faster)."""
  radius = int(4.0 * float(sigma) + 0.5)
  if radius < 1:
    return np.asarray(x, np.float32)
  k = 2 * radius + 1
  return cv2.GaussianBlur(
      np.asarray(x, np.float32), (k, k), float(sigma), borderType=cv2.BORDER_REFLECT)


def face_mask(shape, rng, landmarks=None):
  """Hard {0, 1} float mask [H, W]: the landmarks' convex hull, or an elliptical face region
  (centre a little below the crop's middle, where aligned face crops put the face)."""
  h, w = shape
  mask = np.zeros((h, w), np.float32)
  if landmarks is not None and len(landmarks) >= 3:
    pts = np.asarray(landmarks, np.float64)[:, :2]
    poly = pts[ConvexHull(pts).vertices]
    rr, cc = draw.polygon(poly[:, 1], poly[:, 0], (h, w))
    mask[rr, cc] = 1.0
  else:
    cy, cx = h * rng.uniform(0.5, 0.6), w * rng.uniform(0.45, 0.55)
    ry, rx = h * rng.uniform(0.36, 0.44), w * rng.uniform(0.28, 0.36)
    _fill_ellipse(mask, cy, cx, ry, rx, rng.uniform(-0.15, 0.15))
  return mask


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


def elastic(mask, rng, alpha=50.0, sigma=7.0):
  """Smooth random warp of a mask (alpha, sigma in pixels at 256 px, scaled to the mask)."""
  h, w = mask.shape
  k = max(h, w) / 256
  # Displacements dy, dx = alpha * blur(uniform noise in [-1, 1)); with u uniform in [0, 1),
  # blur(2u - 1) = 2 blur(u) - 1 (the kernel sums to 1, borders reflect).
  u = rng.random((2, h, w), dtype=np.float32)
  a = np.float32(alpha * k)
  # Bilinear sampling at (y + dy, x + dx), zero outside (map_coordinates order=1, 'constant').
  map_y = gaussian(u[0], sigma * k) * (2 * a) + (np.arange(h, dtype=np.float32)[:, None] - a)
  map_x = gaussian(u[1], sigma * k) * (2 * a) + (np.arange(w, dtype=np.float32)[None, :] - a)
  return cv2.remap(
      np.asarray(mask, np.float32),
      map_x,
      map_y,
      cv2.INTER_LINEAR,
      borderMode=cv2.BORDER_CONSTANT,
      borderValue=0)


def soft_mask(mask, rng):
  """Grow or shrink the region a little, blur it twice with random widths, times a blend ratio."""
  h, w = mask.shape
  k = max(h, w) / 256
  r = int(round(rng.uniform(-6, 6) * k))
  if r:
    # Binary dilation / erosion by a (2|r|+1)^2 square, outside the crop counted as 0.
    structure = np.ones((2 * abs(r) + 1,) * 2, np.uint8)
    op = cv2.dilate if r > 0 else cv2.erode
    grown = op(
        (mask > 0.5).astype(np.uint8), structure, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    mask = grown.astype(np.float32) if grown.any() else mask
  mask = np.asarray(mask, np.float32)
  for _ in range(2):
    mask = gaussian(mask, rng.uniform(1, 6) * k)
    mask = mask / max(float(mask.max()), 1e-6)
  return (mask * np.float32(rng.choice(BLEND_RATIOS))).astype(np.float32)


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
  """The source (and the mask with it) scaled about the centre and shifted slightly."""
  h, w = mask.shape
  s = rng.uniform(0.95, 1 / 0.95)
  tx, ty = rng.uniform(-0.03, 0.03) * w, rng.uniform(-0.015, 0.015) * h
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

  def warp(img):
    out = cv2.warpAffine(
        np.asarray(img, np.float32),
        m, (w, h),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE)
    out[:y0], out[y1:], out[:, :x0], out[:, x1:] = 0, 0, 0, 0
    return out

  return warp(x), warp(mask)


def _inside(scale, offset, n):
  """The output range [lo, hi) whose pixel centres map (scale * (u + 0.5) + offset, scale > 0)
  into [0, n)."""
  u = scale * (np.arange(n) + 0.5) + offset
  ok = np.flatnonzero((u >= 0) & (u < n))
  return (int(ok[0]), int(ok[-1]) + 1) if len(ok) else (0, 0)


def self_blend(image, rng, landmarks=None):
  """uint8 [H, W, 3] real face -> (uint8 self-blended pseudo-fake, float mask [H, W] in [0, 1]).

  `landmarks`: optional [N, 2] (x, y) pixel positions in this crop (e.g. the face mesh's).
  """
  x = np.asarray(image, np.float32)
  source, target = x, x
  altered = _frequency(_colour(x, rng), rng)
  if rng.random() < 0.5:
    source = altered
  else:
    target = altered
  mask = face_mask(x.shape[:2], rng, landmarks)
  source, mask = _affine(source, mask, rng)
  mask = soft_mask(elastic(mask, rng), rng)
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
