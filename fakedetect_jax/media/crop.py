"""Square, optionally rotated crops in source-pixel coordinates, taken from stored patches.

Boxes are smoothed over the whole sampled sequence before cropping, so the full frames would
have to be kept until the end. Instead each sampled frame keeps a patch around each detected
face (at about the output resolution) plus a small copy of the whole frame for frames where
the face is carried from elsewhere: memory stays a few MB even for 1080p video.
Coordinates are continuous: pixel i covers [i, i+1).
"""
import dataclasses

import cv2
import numpy as np


@dataclasses.dataclass
class Patch:
  image: np.ndarray  # uint8 [h, w, 3]
  x0: float  # patch pixel = (source coordinate - (x0, y0)) * scale
  y0: float
  scale: float


def downscale(rgb, max_side):
  """Returns (image, scale): the frame shrunk so its long side is at most max_side."""
  h, w = rgb.shape[:2]
  s = min(1.0, max_side / max(h, w))
  if s >= 1.0:
    return rgb, 1.0
  size = (max(1, int(round(w * s))), max(1, int(round(h * s))))
  small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
  return small, small.shape[1] / w


def patch_bounds(width, height, center, side, margin=2.0):
  """Pixel bounds (x0, y0, x1, y1) of a square of `margin * side` around `center`, clipped
    to the frame; None when empty."""
  half = margin * side / 2
  x0, y0 = max(0, int(np.floor(center[0] - half))), max(0, int(np.floor(center[1] - half)))
  x1 = min(width, int(np.ceil(center[0] + half)))
  y1 = min(height, int(np.ceil(center[1] + half)))
  if x1 <= x0 or y1 <= y0:
    return None
  return x0, y0, x1, y1


def patch_from_region(region, x0, y0, side, out_size):
  """The region at `patch_bounds` (x0, y0: its top-left corner) as a Patch, shrunk so `side`
    spans ~out_size px."""
  s = min(1.0, out_size / max(side, 1.0))
  h, w = region.shape[:2]
  if s < 1.0:
    size = (max(1, int(round(w * s))), max(1, int(round(h * s))))
    region = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
    s = size[0] / w
  else:
    region = region.copy()  # do not keep the whole frame alive through a view
  return Patch(region, float(x0), float(y0), s)


def crop_matrix(center, side, angle, out_size):
  """2x3 map from output pixel (u, v) to source coordinates (pixel-centre convention)."""
  k = side / out_size
  c, s = np.cos(angle), np.sin(angle)
  r = np.array([[c, -s], [s, c]])
  offset = np.asarray(center, np.float64) + r @ np.full(2, k * 0.5 - side / 2)
  return np.hstack([k * r, offset[:, None]])


def warp(patch, center, side, angle, out_size, interpolation=cv2.INTER_LINEAR):
  """Crop a square of `side` source pixels around `center`, rotated by `angle` (radians,
    the crop's x axis along (cos, sin)), resized to out_size. Outside the patch is black."""
  return warp_matrix(patch, crop_matrix(center, side, angle, out_size), out_size, interpolation)


def warp_matrix(patch, m, out_size, interpolation=cv2.INTER_LINEAR):
  """The out_size crop whose pixel (u, v) shows source point m @ (u, v, 1) (m: 2x3, as
    crop_matrix gives; any similarity or affine map). Outside the patch is black."""
  m = patch.scale * np.asarray(m, np.float64)
  m[:, 2] -= patch.scale * np.array([patch.x0, patch.y0]) + 0.5
  return cv2.warpAffine(
      patch.image,
      m, (out_size, out_size),
      flags=interpolation | cv2.WARP_INVERSE_MAP,
      borderMode=cv2.BORDER_CONSTANT,
      borderValue=0)


def crop_to_source(points, center, side, angle, out_size):
  """Map continuous crop coordinates [N, 2] back to source coordinates."""
  m = crop_matrix(center, side, angle, out_size)
  p = np.asarray(points, np.float64) - 0.5  # continuous -> output pixel index
  return p @ m[:, :2].T + m[:, 2]


def source_to_crop(points, m):
  """Map source coordinates [N, 2] into the continuous coordinates of the crop m describes
    (m: 2x3 output pixel -> source, as crop_matrix); the inverse of crop_to_source."""
  a, t = np.asarray(m, np.float64)[:, :2], np.asarray(m, np.float64)[:, 2]
  return np.linalg.solve(a, (np.asarray(points, np.float64) - t).T).T + 0.5
