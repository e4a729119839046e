"""Helpers for the media tests: real mp4 material written with the project's own writer.

- Index videos: each frame carries its own index as a 16-bit block code, big enough to survive
  H.264, so a test can read back which source frame it was given.
- Astronaut videos: skimage's astronaut photo (a real face) moved and scaled over a textured
  background; the face box and lip centre in every frame follow from the known placement.
"""
import os
import warnings

import cv2
import numpy as np
import pytest
from skimage import data

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("GLOG_minloglevel", "2")
warnings.filterwarnings("ignore", module="google.protobuf")

from fakedetect_jax.media import write_video  # noqa: E402

# Measured on the 512x512 photo: BlazeFace (short range) box, and the face mesh lip centre
# (mean of the outer lip ring) and mouth corners 61/291.
PHOTO_FACE = np.array([177.0, 82.0, 177.0 + 95, 82.0 + 95])
PHOTO_LIPS = np.array([223.5, 144.6])
PHOTO_MOUTH_WIDTH = 44.1

BLOCK, BITS = 12, 16


def draw_index(img, index):
  """Write `index` as 2 rows of 8 black/white 12 px blocks in the top-left corner."""
  for b in range(BITS):
    y, x = (b // 8) * BLOCK, (b % 8) * BLOCK
    img[y:y + BLOCK, x:x + BLOCK] = 255 if (index >> b) & 1 else 0
  return img


def read_index(img):
  value = 0
  for b in range(BITS):
    y, x = (b // 8) * BLOCK + 3, (b % 8) * BLOCK + 3
    if img[y:y + BLOCK - 6, x:x + BLOCK - 6].mean() > 128:
      value |= 1 << b
  return value


def index_frames(n, h=96, w=128, seed=0):
  """Upright frames 0..n-1 carrying their index; a gradient elsewhere."""
  rng = np.random.default_rng(seed)
  base = np.zeros((h, w, 3), np.uint8)
  base[..., 0] = np.linspace(0, 255, w)[None, :]
  base[..., 1] = np.linspace(0, 255, h)[:, None]
  base[..., 2] = rng.integers(60, 200)
  return np.stack([draw_index(base.copy(), i) for i in range(n)])


def store_rotated(upright, rotation):
  """Coded frames which, displayed with `rotation` (ccw degrees), show `upright`."""
  return np.stack([np.rot90(f, -(rotation // 90)) for f in upright])


def background(h, w, seed=0):
  rng = np.random.default_rng(seed)
  small = rng.integers(60, 200, (h // 16 + 2, w // 16 + 2, 3)).astype(np.uint8)
  return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def place_astronaut(bg, scale, x, y):
  """Paste the photo scaled by `scale`, top-left at (x, y); returns frame, face box, lips."""
  side = int(round(512 * scale))
  img = cv2.resize(data.astronaut(), (side, side), interpolation=cv2.INTER_AREA)
  out = bg.copy()
  h, w = out.shape[:2]
  x0, y0, x1, y1 = max(0, x), max(0, y), min(w, x + side), min(h, y + side)
  out[y0:y1, x0:x1] = img[y0 - y:y1 - y, x0 - x:x1 - x]
  s = side / 512
  return out, PHOTO_FACE * s + [x, y, x, y], PHOTO_LIPS * s + [x, y]


def astronaut_clip(n=8, h=360, w=480, face_from=0, face_to=None):
  """Frames where the face drifts right and grows; frames outside [face_from, face_to) show
    only the background. Returns frames, face boxes and lip centres (NaN without a face)."""
  bg = background(h, w)
  frames, boxes, lips = [], np.full((n, 4), np.nan), np.full((n, 2), np.nan)
  face_to = n if face_to is None else face_to
  for i in range(n):
    if face_from <= i < face_to:
      f, boxes[i], lips[i] = place_astronaut(bg, 0.55 + 0.2 * i / n, 20 + 96 * i // n,
                                             -30 + 32 * i // n)
    else:
      f = bg.copy()
    frames.append(f)
  return np.stack(frames), boxes, lips


def iou(a, b):
  ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
  iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
  inter = ix * iy
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def ncc(a, b):
  a = a.astype(np.float64) - a.mean()
  b = b.astype(np.float64) - b.mean()
  return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


# Fixtures: test modules import them by name (no conftest.py here, so that the repository's
# own tests/conftest.py stays the only module named "conftest").
@pytest.fixture(scope="session")
def media_dir(tmp_path_factory):
  return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def astronaut_video(media_dir):
  frames, boxes, lips = astronaut_clip(n=8)
  path = str(media_dir / "astronaut.mp4")
  write_video(path, frames, fps=10)
  return path, boxes, lips
