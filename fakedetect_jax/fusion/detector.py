"""A fused detector as one checkpoint directory: every branch's best checkpoint and config, and
the fusion parameters.

  <path>/fusion.json                       {"fusion": Fusion.to_dict(), "branches": [names],
                                            "threshold": verdict threshold (chosen on validation),
                                            "threshold_rule", "media": the MediaConfig the
                                            branches' training examples were encoded with}
  <path>/branches/<name>/config.json       the branch's training config
  <path>/branches/<name>/checkpoint/       its orbax train state (best on validation)

`FusedDetector.predict_example` scores one encoded video (the media encoder's dict) with every
branch that has input and fuses the present ones.
"""
import json
import os
import shutil

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from fakedetect_jax import models
from fakedetect_jax.fusion import blink
from fakedetect_jax.fusion.combine import Fusion
from fakedetect_jax.train.step import prepare_inputs


def save_detector(path, branch_workdirs, fusion, threshold=None, threshold_rule=None,
                  media=None):
  """branch_workdirs: {name: workdir of a finished train run}; fusion: a fitted Fusion;
  media: a dict of the MediaConfig to encode videos with at prediction time."""
  os.makedirs(path, exist_ok=True)
  for name, workdir in branch_workdirs.items():
    dst = os.path.join(path, "branches", name)
    best = os.path.join(workdir, "checkpoints", "best")
    steps = sorted((int(s) for s in os.listdir(best) if s.isdigit()), reverse=True)
    if not steps:
      raise FileNotFoundError(f"{workdir} has no best checkpoint")
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(os.path.join(best, str(steps[0])), os.path.join(dst, "checkpoint"))
    shutil.copy(os.path.join(workdir, "config.json"), os.path.join(dst, "config.json"))
  with open(os.path.join(path, "fusion.json"), "w") as f:
    json.dump({"fusion": fusion.to_dict(), "branches": list(branch_workdirs),
               "threshold": 0.5 if threshold is None else float(threshold),
               "threshold_rule": threshold_rule or "0.5 (no validation scores given)",
               "media": media}, f, indent=1)


class Branch:
  def __init__(self, config, model, variables):
    self.config, self.model, self.variables = config, model, variables
    self.view = config.data.get("view", "frames")
    self._apply = jax.jit(lambda v, x: jax.nn.sigmoid(model.apply(v, prepare_inputs(x),
                                                                  train=False)))

  def scores(self, inputs):
    """Fake probability per row of inputs (an image batch or a view dict)."""
    return np.asarray(self._apply(self.variables, inputs))

  def report(self, inputs):
    """The lip-sync model's own report per row (sync score, best audio offset), else None."""
    if not hasattr(self.model, "report"):
      return None
    if not hasattr(self, "_report"):
      self._report = jax.jit(lambda v, x: self.model.apply(v, prepare_inputs(x),
                                                           method="report"))
    return {k: np.asarray(v) for k, v in self._report(self.variables, inputs).items()}


def load_detector(path):
  with open(os.path.join(path, "fusion.json")) as f:
    meta = json.load(f)
  branches = {}
  for name in meta["branches"]:
    d = os.path.join(path, "branches", name)
    with open(os.path.join(d, "config.json")) as f:
      config = ml_collections.ConfigDict(json.load(f))
    kwargs = {k: v for k, v in config.model.items() if k != "name"}
    model = models.get_model(config.model.name, **kwargs)
    ckpt = os.path.abspath(os.path.join(d, "checkpoint"))
    # A CheckpointManager step directory keeps the state in its 'default' item.
    if os.path.isdir(os.path.join(ckpt, "default")):
      ckpt = os.path.join(ckpt, "default")
    state = ocp.StandardCheckpointer().restore(ckpt)
    branches[name] = Branch(config, model, {"params": state["params"],
                                            "batch_stats": state.get("batch_stats", {})})
  detector = FusedDetector(branches, Fusion.from_dict(meta["fusion"]))
  detector.meta = meta
  return detector


def _resize(frames, size):
  if frames.shape[1] == size:
    return frames
  out = jax.image.resize(jnp.asarray(frames, jnp.float32), frames.shape[:1] + (size, size, 3),
                         "linear", antialias=True)
  return np.asarray(jnp.clip(jnp.round(out), 0, 255)).astype(np.uint8)


class FusedDetector:
  def __init__(self, branches, fusion):
    self.branches, self.fusion = branches, fusion
    self.meta = {}

  def branch_inputs(self, branch, ex):
    """The rows one branch reads from an encoded example; None when it has no input."""
    has_face = bool(np.any(ex.get("face_found", True)))
    has_audio = bool(np.asarray(ex.get("has_audio", True))) and "audio" in ex
    view, c = branch.view, branch.config.data
    if view in ("frames", "clips", "av") and not has_face:
      return None
    if view in ("av", "audio") and not has_audio:
      return None
    if view == "frames":
      return _resize(ex["frames"], c.image_size)
    if view == "audio":
      return {k: np.asarray(ex[k])[None] for k in ("audio", "audio_valid", "has_audio")}
    t = (len(ex["frames"]) // c.clip_len) * c.clip_len
    keys = (("frames", "face_found") if view == "clips" else
            ("frames", "mouth", "audio", "audio_valid", "has_audio", "face_found",
             "eye_aspect_ratio"))
    out = {}
    for k in keys:
      v = np.asarray(ex[k])
      if k == "frames":
        v = _resize(v, c.image_size)
      out[k] = (np.broadcast_to(v, (t // c.clip_len,)) if v.ndim == 0
                else v[:t].reshape((t // c.clip_len, c.clip_len) + v.shape[1:]))
    return out

  def predict_example(self, ex, details=False):
    """{'branches': {name: prob or None}, 'fake_prob': fused probability} for one video.

    details: also 'rows' {name: per-row scores (frames or clips)} and 'reports' {name: the
    branch's own report (the lip-sync offset and sync score), averaged over its rows}.
    """
    scores, rows, reports = {}, {}, {}
    for name, branch in self.branches.items():
      x = self.branch_inputs(branch, ex)
      if x is None:
        scores[name] = None
        continue
      rows[name] = branch.scores(x)
      scores[name] = float(np.mean(rows[name]))
      if details and (r := branch.report(x)) is not None:
        reports[name] = {"offset": int(np.round(np.median(r["offset"]))),
                         "sync_score": float(np.mean(r["sync_score"]))}
    row = np.array([[np.nan if scores[n] is None else scores[n] for n in self.fusion.names]])
    extra = None
    if self.fusion.extra_names:  # the blink cue: eye-aspect-ratio series of the sampled frames
      extra = blink.blink_features(np.asarray(ex["eye_aspect_ratio"])[None],
                                   np.asarray(ex["timestamps"])[None],
                                   np.asarray(ex["mouth_found"])[None])
    out = {"branches": scores, "fake_prob": float(self.fusion.predict(row, extra=extra)[0])}
    if details:
      out.update(rows=rows, reports=reports)
    return out
