"""A fused detector as one checkpoint directory: every branch's best checkpoint and config, and
the fusion parameters.

  <path>/fusion.json                       {"fusion": Fusion.to_dict(), "branches": [names],
                                            "threshold": verdict threshold (chosen on validation),
                                            "threshold_rule", "media": the MediaConfig the
                                            branches' training examples were encoded with}
  <path>/branches/<name>/config.json       the branch's training config
  <path>/branches/<name>/checkpoint/       its orbax train state (best on validation: the
                                            checkpoint train.checkpoints.restore_best reads)

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
from fakedetect_jax.input import views
from fakedetect_jax.train import checkpoints, objectives
from fakedetect_jax.train.step import prepare_inputs


def save_detector(path, branch_workdirs, fusion, threshold=None, threshold_rule=None, media=None):
  """branch_workdirs: {name: workdir of a finished train run}; fusion: a fitted Fusion;
  media: a dict of the MediaConfig to encode videos with at prediction time."""
  os.makedirs(path, exist_ok=True)
  for name, workdir in branch_workdirs.items():
    dst = os.path.join(path, "branches", name)
    src = checkpoints.checkpoint_dir(workdir)
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, os.path.join(dst, "checkpoint"))
    shutil.copy(os.path.join(workdir, "config.json"), os.path.join(dst, "config.json"))
  with open(os.path.join(path, "fusion.json"), "w") as f:
    json.dump(
        {
            "fusion": fusion.to_dict(),
            "branches": list(branch_workdirs),
            "threshold": 0.5 if threshold is None else float(threshold),
            "threshold_rule": threshold_rule or "0.5 (no validation scores given)",
            "media": media
        },
        f,
        indent=1)


class Branch:

  def __init__(self, config, model, variables):
    self.config, self.model, self.variables = config, model, variables
    self.view = config.data.get("view", "frames")
    self._apply = jax.jit(lambda v, x: jax.nn.sigmoid(
        model.apply(v, objectives.model_input(prepare_inputs(x), self.view), train=False)))

  def scores(self, inputs):
    """Fake probability per row of inputs (a view's dict of rows, views.to_model_inputs)."""
    return np.asarray(self._apply(self.variables, inputs))

  def report(self, inputs):
    """The lip-sync model's own report per row (sync score, best audio offset), else None."""
    if not hasattr(self.model, "report"):
      return None
    if not hasattr(self, "_report"):
      self._report = jax.jit(lambda v, x: self.model.apply(
          v, objectives.model_input(prepare_inputs(x), self.view), method="report"))
    return {k: np.asarray(v) for k, v in self._report(self.variables, inputs).items()}


def load_detector(path):
  with open(os.path.join(path, "fusion.json")) as f:
    meta = json.load(f)
  branches = {}
  for name in meta["branches"]:
    d = os.path.join(path, "branches", name)
    with open(os.path.join(d, "config.json")) as f:
      config = ml_collections.ConfigDict(json.load(f))
    model = models.from_config(config)
    ckpt = os.path.abspath(os.path.join(d, "checkpoint"))
    # A CheckpointManager step directory keeps the state in its 'default' item, or in 'state'
    # beside the input pipeline's 'data' (train.checkpoints).
    for item in ("default", "state"):
      if os.path.isdir(os.path.join(ckpt, item)):
        ckpt = os.path.join(ckpt, item)
        break
    state = ocp.StandardCheckpointer().restore(ckpt)
    branches[name] = Branch(config, model, {
        "params": state["params"],
        "batch_stats": state.get("batch_stats", {})
    })
  detector = FusedDetector(branches, Fusion.from_dict(meta["fusion"]))
  detector.meta = meta
  return detector


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
    # The rows exactly as training cut them from a stored example (one resize, same keys).
    return views.to_model_inputs(ex, c)

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
        reports[name] = {
            "offset": int(np.round(np.median(r["offset"]))),
            "sync_score": float(np.mean(r["sync_score"]))
        }
    row = np.array([[np.nan if scores[n] is None else scores[n] for n in self.fusion.names]])
    extra = None
    if self.fusion.extra_names:  # the blink cue: eye-aspect-ratio series of the sampled frames
      extra = blink.blink_features(
          np.asarray(ex["eye_aspect_ratio"])[None],
          np.asarray(ex["timestamps"])[None],
          np.asarray(ex["mouth_found"])[None])
    out = {"branches": scores, "fake_prob": float(self.fusion.predict(row, extra=extra)[0])}
    if details:
      out.update(rows=rows, reports=reports)
    return out
