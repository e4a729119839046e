"""A saved fused detector (fusion.save_detector) behind the same interface as a single run's
Detector, so predict, --explain and the web page serve both.

What a user sees per video: the fused fake probability and its verdict at the threshold stored
with the detector, every branch's score (None when it had no input: no audio track, no face),
the lip-sync branch's best audio offset and sync score, per-frame scores (the frame branch's when
there is one, else each clip's score spread over its frames) and Grad-CAM from the frame branch.
"""
import os
import threading

import jax
import jax.numpy as jnp
import numpy as np

from fakedetect_jax import media
from fakedetect_jax.errors import ConfigError
from fakedetect_jax.fusion import detector as fusion_detector
from fakedetect_jax.predict import gradcam
from fakedetect_jax.input import views
from fakedetect_jax.train.step import prepare_inputs


class FusedPredictor:

  def __init__(self, path):
    if not os.path.exists(os.path.join(path, "fusion.json")):
      raise ConfigError(f"{path}: not a fused detector (expected fusion.json)")
    self.fused = fusion_detector.load_detector(path)
    meta = self.fused.meta
    if not meta.get("media"):
      raise ConfigError(f"{path}: fusion.json has no media config (saved by an older version; "
                        "re-run experiments/studies/synthetic_fusion.py)")
    self.media = media.MediaConfig(**meta["media"])
    # Every branch's input comes from one encoding: faces, mouths, eyes and audio.
    self.encode_cfg = self.media.replace(landmarks=True, audio=True)
    self.threshold = float(meta.get("threshold", 0.5))
    names = list(self.fused.branches)
    self.model_name = (
        f"fusion ({self.fused.fusion.method}) of " +
        ", ".join(f"{n}: {b.config.model.name}" for n, b in self.fused.branches.items()))
    self.info = {
        "threshold": self.threshold,
        "threshold_rule": meta.get("threshold_rule"),
        "branches": names,
        "fusion": self.fused.fusion.method,
        "media": meta["media"]
    }
    self.frame_branch = next((n for n, b in self.fused.branches.items() if b.view == "frames"),
                             None)
    self._cam, self._cam_lock = None, threading.Lock()

  def score_example(self, ex):
    """(fake probability, {branch: {model, score[, offset, sync_score]}}, per-frame scores)."""
    out = self.fused.predict_example(ex, details=True)
    branches = {}
    for name, branch in self.fused.branches.items():
      score = out["branches"][name]
      branches[name] = {
          "model": branch.config.model.name,
          "score": None if score is None else round(score, 4),
          **out["reports"].get(name, {})
      }
    t = len(ex["frames"])
    rows = out["rows"]
    if self.frame_branch in rows:
      frame_scores = rows[self.frame_branch]
    elif rows:  # clip scores, each over the frames of its clip
      first = next(iter(rows.values()))
      frame_scores = np.repeat(first, -(-t // len(first)))[:t]
    else:
      frame_scores = np.full(t, np.nan)
    return out["fake_prob"], branches, np.asarray(frame_scores, np.float64)

  def heatmaps(self, frames):
    """Grad-CAM of the frame branch [T, S, S]; zeros when the detector has no frame CNN."""
    frames = np.asarray(frames)
    if self.frame_branch is None:
      return np.zeros(frames.shape[:3], np.float32)
    branch = self.fused.branches[self.frame_branch]
    x = prepare_inputs(views.to_model_inputs({"frames": frames}, branch.config.data)["image"])
    with self._cam_lock:
      if self._cam is None:
        layer = gradcam.choose_layer(branch.model, branch.variables, x)
        run = gradcam.make_grad_cam(branch.model, layer)
        self._cam = jax.jit(lambda v, x: run(v, x)[0])
    return np.asarray(self._cam(branch.variables, jnp.asarray(x)))

  def warm_up(self):
    """Compiles every branch and Grad-CAM on a generated clip (see Detector.warm_up)."""
    import tempfile
    from fakedetect_jax.predict import clip
    with tempfile.TemporaryDirectory(prefix="fakedetect-warmup-") as tmp:
      path = os.path.join(tmp, "warmup.mp4")
      media.write_video(path, np.full((8, 64, 64, 3), 128, np.uint8), fps=8)
      clip.analyse(self, path, explain=True)
