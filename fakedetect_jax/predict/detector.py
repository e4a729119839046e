"""A trained run's workdir as a detector: video file -> verdict, scores, heatmaps.

The workdir is the trainer's output (config.json + checkpoints/best). What the trainer does not
record is written beside it once, as detector.json: the decision threshold chosen on the
validation split and the media settings the training crops were made with (a detector fed
crops of another size or framing scores something it never saw).

Threshold rule: the video scores of the validation split (config.eval.video_strategy over the
frame scores) are swept; the threshold is the midpoint between neighbouring scores that gives the
highest balanced accuracy (ties: the median of the tied candidates). Balanced accuracy, not
accuracy, because validation sets are rarely balanced and a verdict must mean the same for a
real and a fake clip. When the validation data is gone the config's eval.threshold is used and
detector.json says so.
"""
import dataclasses
import json
import os
import threading
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from fakedetect_jax import evaluate, media, models
from fakedetect_jax.errors import ConfigError
from fakedetect_jax.evaluate.video import AGGREGATORS
from fakedetect_jax.input import views
from fakedetect_jax.predict import gradcam
from fakedetect_jax.train import objectives, step as step_lib

DETECTOR_FILE = "detector.json"
BRANCH = "frames"  # the one branch so far: a frame model on the face crops


def choose_threshold(labels, scores):
  """(threshold, balanced accuracy) maximising balanced accuracy; see the module docstring."""
  labels, scores = np.asarray(labels) > 0, np.asarray(scores, np.float64)
  if labels.all() or not labels.any():
    raise ValueError("validation needs real and fake videos to choose a threshold")
  u = np.unique(scores)
  cands = np.concatenate([[u[0] - 1e-6], (u[:-1] + u[1:]) / 2, [u[-1] + 1e-6]])
  fake = scores[labels][None, :] >= cands[:, None]
  real = scores[~labels][None, :] < cands[:, None]
  bal = (fake.mean(1) + real.mean(1)) / 2
  best = np.flatnonzero(bal >= bal.max() - 1e-12)
  t = float(np.clip(cands[best[len(best) // 2]], 0.0, 1.0))
  return t, float(bal.max())


def _media_config(config):
  """The MediaConfig that made the training crops: the TFDS builder config's, when there is one."""
  if config.data.dataset == "npz":
    return media.MediaConfig(face_size=config.data.image_size)
  from fakedetect_jax.input import sources
  builder = sources.get_builder(config.data.dataset, config.data.config, config.data.data_dir)
  return builder.builder_config.media


def open_detector(path):
  """A run's workdir (Detector; a localization run: predict.localizer.Localizer) or a saved
  fused detector (predict.fused.FusedPredictor)."""
  if os.path.exists(os.path.join(path, "fusion.json")):
    from fakedetect_jax.predict.fused import FusedPredictor
    return FusedPredictor(path)
  cfg_file = os.path.join(path, "config.json")
  if os.path.exists(cfg_file):
    with open(cfg_file) as f:
      if json.load(f).get("data", {}).get("view") == "segments":
        from fakedetect_jax.predict.localizer import Localizer
        return Localizer(path)
  return Detector(path)


class Detector:
  """Loads once, compiles on first use; `predict.clip.analyse(detector, path)` may be called
  from several threads at once (the web server does)."""
  explains = True  # heatmaps() gives Grad-CAM or attention rollout
  branch = BRANCH

  def __init__(self, workdir, calibrate=True):
    self.workdir = os.path.abspath(workdir)
    cfg_file = os.path.join(self.workdir, "config.json")
    best = os.path.join(self.workdir, "checkpoints", "best")
    if not os.path.exists(cfg_file) or not os.path.isdir(best) or not any(
        p.isdigit() for p in os.listdir(best)):
      raise ConfigError(f"{workdir}: not a trained run (expected config.json and "
                        "checkpoints/best/<step> from python -m fakedetect_jax.main)")
    with open(cfg_file) as f:
      self.config = ml_collections.ConfigDict(json.load(f))
    c = self.config
    self._check_run(c, workdir)
    self.model_name = c.model.name
    self.image_size = int(c.data.image_size)
    self.strategy = c.eval.video_strategy
    self.model = models.from_config(c)
    self.variables = self._restore()
    self._score = jax.jit(self._score_fn)
    self._cam = None
    self._cam_lock = threading.Lock()
    self.info = self._load_or_calibrate(calibrate)
    # Fields MediaConfig no longer has (a detector.json from an older version) are dropped.
    known = {f.name for f in dataclasses.fields(media.MediaConfig)}
    self.media = media.MediaConfig(**{k: v for k, v in self.info["media"].items() if k in known})
    self.threshold = float(self.info["threshold"])
    self.encode_cfg = self._encode_config()

  def _check_run(self, config, workdir):
    if config.data.get("view", "frames") != "frames" or config.get("objective",
                                                                   "classify") != "classify":
      raise ConfigError(f"{workdir}: predict runs frame-model and localization runs; this run "
                        f"trains the {config.data.get('view')!r} view with objective "
                        f"{config.get('objective')!r}")

  def _encode_config(self):
    # The frame branch needs only the face crops: skip the face mesh (unless crops are aligned
    # by it) and the audio, which cost more than the model.
    return self.media.replace(landmarks=self.media.align_eyes, audio=False)

  def _example(self):
    """One row of model inputs for model.init (None: an image of data.image_size)."""
    return None

  def _restore(self):
    from fakedetect_jax.train import checkpoints, state as state_lib
    c = self.config
    tx = state_lib.optimizer(c)
    # Shapes only (no init computation, no compilation), placed on one device: predict does
    # not need the training mesh, and the checkpoint reshards into this on restore.
    one = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=one),
        jax.eval_shape(lambda: state_lib.create_state(self.model, tx, self.image_size, c.seed,
                                                      self._example())))
    state, step = checkpoints.restore_best(self.workdir, abstract)
    self.step = int(step)
    out = {"params": state.params}
    if state.batch_stats:
      out["batch_stats"] = state.batch_stats
    return out

  # ---- model -------------------------------------------------------------------------------
  def _inputs(self, frames):
    """uint8 crops [T,S,S,3] (as stored: predict.clip JPEG round-trips them) -> the model's
    input, through the training path's own functions: views.to_model_inputs (the one resize)
    on the host, step.prepare_inputs (the one normalisation) on the device."""
    return views.to_model_inputs({"frames": np.asarray(frames)}, self.config.data)

  def _model_x(self, inputs):
    x = step_lib.prepare_inputs(inputs, jnp.dtype(self.config.compute_dtype))
    return objectives.model_input(x, self.config.data.get("view", "frames"))

  def _score_fn(self, variables, inputs):
    # The objective's score, as the eval step computes it during training.
    objective = objectives.get(self.config.get("objective", "classify"))
    return objective.score(self.model, variables, self._model_x(inputs))

  def frame_scores(self, frames):
    if len(frames) == 0:
      return np.zeros(0, np.float32)
    return np.asarray(self._score(self.variables, self._inputs(frames)))

  def heatmaps(self, frames):
    """Grad-CAM [T, image_size, image_size] in [0, 1], or attention rollout for the models
    whose spec's explainer is 'rollout' (the transformers)."""
    from fakedetect_jax import explain
    if models.REGISTRY[self.model_name].explainer == "rollout":
      return np.asarray(
          explain.attention_rollout(self.model, self.variables,
                                    np.asarray(self._model_x(self._inputs(frames)))))
    inputs = self._inputs(frames)
    with self._cam_lock:
      if self._cam is None:
        layer = gradcam.choose_layer(self.model, self.variables, self._model_x(inputs))
        run = gradcam.make_grad_cam(self.model, layer)
        self._cam = jax.jit(lambda v, f: run(v, self._model_x(f))[0])
    return np.asarray(self._cam(self.variables, inputs))

  def warm_up(self):
    """Compiles scoring and Grad-CAM for the one input shape predict uses, and runs the media
    pipeline once on a generated clip (the face models load on first use), so a server's first
    request costs what every other one does."""
    import tempfile
    from fakedetect_jax.predict import clip
    s = self.media.face_size
    zeros = np.zeros((self.media.num_frames, s, s, 3), np.uint8)
    self.frame_scores(zeros)
    self.heatmaps(zeros)
    with tempfile.TemporaryDirectory(prefix="fakedetect-warmup-") as tmp:
      path = os.path.join(tmp, "warmup.mp4")
      media.write_video(path, np.full((8, 64, 64, 3), 128, np.uint8), fps=8)
      clip.analyse(self, path, explain=True)

  def video_score(self, frame_scores):
    return float(AGGREGATORS[self.strategy](np.asarray(frame_scores, np.float64)))

  def score_example(self, ex):
    """(fake probability, {branch: {model, score}}, per-frame scores) of an encoded video."""
    scores = self.frame_scores(ex["frames"])
    p = self.video_score(scores)
    return p, {BRANCH: {"model": self.model_name, "score": round(p, 4)}}, scores

  # ---- detector.json -----------------------------------------------------------------------
  def _load_or_calibrate(self, calibrate):
    path = os.path.join(self.workdir, DETECTOR_FILE)
    if os.path.exists(path):
      with open(path) as f:
        info = json.load(f)
      if info.get("checkpoint_step") == self.step:
        return info
    info = {
        "model": self.model_name,
        "image_size": self.image_size,
        "checkpoint_step": self.step,
        "video_strategy": self.strategy,
        "branches": [self.branch],
        "media": dataclasses.asdict(_media_config(self.config))
    }
    info.update(self._calibrate() if calibrate else self._fallback("calibration not run"))
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
      json.dump(info, f, indent=2, sort_keys=True)
    os.replace(tmp, path)
    return info

  def _calibrate_scores(self, src):
    """(labels, video scores) of the validation videos."""
    from fakedetect_jax import input as input_lib
    from fakedetect_jax.train import state as state_lib
    one = state_lib.batch_sharding(state_lib.make_mesh(jax.devices()[:1]))
    scores = np.concatenate([
        np.asarray(self._score(self.variables, inputs))[:valid]
        for inputs, valid in input_lib.eval_batches(src, 64, one)
    ])
    videos, vscores = evaluate.video_scores(scores, src.video_index, self.strategy)
    return np.array([src.labels[src.video_index == v][0] for v in videos]), vscores

  def _fallback(self, why):
    return {
        "threshold": float(self.config.eval.threshold),
        "threshold_rule": f"config eval.threshold ({why})"
    }

  def _calibrate(self):
    from fakedetect_jax import input as input_lib
    from fakedetect_jax.errors import DataError
    from fakedetect_jax.train import state as state_lib
    try:
      src = input_lib.open_split(self.config.data, self.config.data.val_split)
    except (DataError, OSError) as e:
      return self._fallback(f"validation data unavailable: {e}")
    t0 = time.perf_counter()
    labels, vscores = self._calibrate_scores(src)
    try:
      threshold, bal = choose_threshold(labels, vscores)
    except ValueError as e:
      return self._fallback(str(e))
    return {
        "threshold": threshold,
        "threshold_rule": "best balanced accuracy on validation video scores",
        "validation": {
            "videos": int(len(labels)),
            "balanced_acc": bal,
            "eer": float(evaluate.eer(labels, vscores)),
            "auc": float(evaluate.auc(labels, vscores)),
            "seconds": round(time.perf_counter() - t0, 2)
        }
    }
