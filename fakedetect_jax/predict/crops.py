"""Face crops as images: each PNG/JPEG is one frame of a face already cropped (DeepfakeBench's
prepared data are folders of such frames), scored with no detection and no video.

A crop is read as RGB, resized to the detector's input size as its run expects (a run imported
from DeepfakeBench: bicubic, as DeepfakeBench's loader resizes its frames; any other run: the
training path's one resize, input/views.resize) and normalised by the detector's own scoring
function. One unreadable file is an error row; the rest are scored.
"""
import json
import os

import cv2
import numpy as np

from fakedetect_jax.input import views
from fakedetect_jax.predict.files import find_files

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


def find_images(inputs):
  """Files as given; folders: their image files, sorted, recursively."""
  return find_files(inputs, IMAGE_EXTENSIONS)


def _imported_from_deepfakebench(workdir):
  path = os.path.join(workdir, "imported.json")
  if not os.path.exists(path):
    return False
  with open(path) as f:
    return json.load(f).get("from") == "deepfakebench"


def load_crop(path, size, bicubic=False):
  """uint8 [size, size, 3] RGB of an image file; ValueError naming the file otherwise."""
  data = np.fromfile(path, np.uint8) if os.path.isfile(path) else None
  bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
  if bgr is None:
    raise ValueError(f"{path}: not a readable image (expected a PNG or JPEG face crop)")
  rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
  if bicubic:
    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_CUBIC)
  return views.resize(rgb, size)


def score_crops(detector, files, batch=32):
  """One row per file: {file, ok, verdict, fake_probability, threshold} or {file, ok, error}."""
  bicubic = _imported_from_deepfakebench(detector.workdir)
  rows, good, crops = [], [], []
  for path in files:
    try:
      crops.append(load_crop(path, detector.image_size, bicubic))
      good.append(len(rows))
      rows.append({"file": path, "ok": True})
    except ValueError as e:
      rows.append({"file": path, "ok": False, "error": str(e)})
  for start in range(0, len(crops), batch):
    scores = detector.frame_scores(np.stack(crops[start:start + batch]))
    for i, p in zip(good[start:start + batch], scores):
      p = float(p)
      rows[i].update(
          fake_probability=round(p, 6),
          threshold=detector.threshold,
          verdict="fake" if p >= detector.threshold else "real")
  return rows


def table(rows):
  lines = [("file", "verdict", "p(fake)", "threshold")]
  for r in rows:
    if r["ok"]:
      lines.append((r["file"], r["verdict"].upper(), f"{r['fake_probability']:.4f}",
                    f"{r['threshold']:.3f}"))
    else:
      lines.append((r["file"], "ERROR", "", r["error"]))
  widths = [max(len(l[i]) for l in lines) for i in range(3)]
  return "\n".join("  ".join(c.ljust(w)
                             for c, w in zip(l[:3], widths)) + "  " + l[3]
                   for l in lines).rstrip() + "\n"
