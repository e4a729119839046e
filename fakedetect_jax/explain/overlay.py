"""Heatmaps drawn over the face crop, as arrays and PNG files."""
import os

import numpy as np
from PIL import Image


def _jet(v):
  """The 'jet' colour map in numpy (blue -> cyan -> yellow -> red): v [..] in [0, 1] -> RGB."""
  v = np.clip(v, 0, 1)[..., None]
  r = np.clip(1.5 - np.abs(4 * v - 3), 0, 1)
  g = np.clip(1.5 - np.abs(4 * v - 2), 0, 1)
  b = np.clip(1.5 - np.abs(4 * v - 1), 0, 1)
  return np.concatenate([r, g, b], axis=-1)


def overlay(image, heat, alpha=0.45):
  """uint8 [H, W, 3] face + heatmap [h, w] in [0, 1] (resized to the image) -> uint8 [H, W, 3]."""
  image = np.asarray(image)
  heat = np.asarray(heat, np.float32)
  if heat.shape != image.shape[:2]:
    heat = np.asarray(Image.fromarray(heat).resize(image.shape[1::-1], Image.BILINEAR))
  mixed = (1 - alpha) * image.astype(np.float32) + alpha * 255 * _jet(heat)
  return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def save_overlays(images, heats, out_dir, prefix="face", scores=None):
  """One PNG per face (`<prefix>_<i>.png`, with the fake probability in the name when given);
  returns the paths."""
  os.makedirs(out_dir, exist_ok=True)
  paths = []
  for i, (image, heat) in enumerate(zip(images, heats)):
    tag = f"_p{float(scores[i]):.2f}" if scores is not None else ""
    path = os.path.join(out_dir, f"{prefix}_{i:03d}{tag}.png")
    Image.fromarray(overlay(image, heat)).save(path)
    paths.append(path)
  return paths
