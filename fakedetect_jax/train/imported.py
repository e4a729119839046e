"""A run directory from imported weights, used by evaluate, predict and serve like a trained run.

    RUN/config.json          the config our model is built from (model fields included)
    RUN/checkpoints/best/0   the weights (orbax, as the trainer writes them; step 0)
    RUN/detector.json        the media settings its crops must be made with and the decision
                             threshold (0.5 on the fake probability: DeepfakeBench's accuracy
                             threshold; nothing was calibrated here)
    RUN/imported.json        where the weights came from: file, sha256, detector, source

Nothing here trains. Its config hash is written, so `python -m fakedetect_jax.main` with another
config refuses this workdir; fine-tuning an imported detector is `init_from=RUN` in a training
config with a workdir of its own.
"""
import dataclasses
import hashlib
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from fakedetect_jax import config_lib, media, models
from fakedetect_jax.train import checkpoints, state as state_lib

IMPORTED_FILE = "imported.json"


def _sha256(path):
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()


def imported_config(model, model_kwargs, size, dataset="ffpp", data_config="c23"):
  """The zoo config of `model` at `size` px with `model_kwargs`; dataset is what the weights
  were trained on (DeepfakeBench's detectors: FF++ c23), which predict's media settings and the
  defaults of evaluate refer to."""
  a = config_lib.parse_arg(None, size=size, **config_lib.ZOO_ARGS)
  a.dataset, a.data_config, a.steps = dataset, data_config, 1
  c = config_lib.zoo_config(a, model)
  c.model.update(dict(model_kwargs))
  c.optimizer.warmup_steps = 0
  return c


def media_settings(protocol="deepfakebench", size=256, num_frames=32):
  fields = {f.name for f in dataclasses.fields(media.MediaConfig)}
  kw = {"face_size": size, "num_frames": num_frames}
  if "protocol" in fields:
    kw["protocol"] = protocol
  return dataclasses.asdict(media.MediaConfig(**kw))


def write_run(out_dir, config, variables, provenance, media_dict, threshold=0.5):
  """Writes the run directory (module docstring) for `variables` ({'params', 'batch_stats'},
  numpy) of the model `config` builds."""
  out_dir = os.path.abspath(out_dir)
  if os.path.exists(os.path.join(out_dir, "checkpoints")):
    raise FileExistsError(f"{out_dir} already holds checkpoints; choose a new --out")
  os.makedirs(out_dir, exist_ok=True)
  model = models.from_config(config)
  tx = state_lib.optimizer(config)
  size = int(config.data.image_size)
  abstract = jax.eval_shape(lambda: state_lib.create_state(model, tx, size, config.seed))
  params = jax.tree.map(lambda a, v: jnp.asarray(v, a.dtype), abstract.params, variables["params"])
  stats = jax.tree.map(lambda a, v: jnp.asarray(v, a.dtype), abstract.batch_stats,
                       variables.get("batch_stats", {}))
  state = state_lib.TrainState(
      step=jnp.array(0, jnp.int32), params=params, batch_stats=stats, opt_state=tx.init(params))
  with open(os.path.join(out_dir, "config.json"), "w") as f:
    f.write(config.to_json_best_effort(indent=2, sort_keys=True))
  with open(os.path.join(out_dir, "config_hash"), "w") as f:
    f.write(config_lib.config_hash(config) + "\n")
  ckpts = checkpoints.Checkpoints(out_dir)
  try:
    ckpts.maybe_save_best(state, [0.0], "imported")
  finally:
    ckpts.close()
  detector_info = {
      "model": config.model.name,
      "image_size": size,
      "checkpoint_step": 0,
      "video_strategy": config.eval.video_strategy,
      "branches": ["frames"],
      "media": media_dict,
      "threshold": float(threshold),
      "threshold_rule": "0.5 on the fake probability (imported weights; no calibration)"
  }
  with open(os.path.join(out_dir, "detector.json"), "w") as f:
    json.dump(detector_info, f, indent=2, sort_keys=True)
  with open(os.path.join(out_dir, IMPORTED_FILE), "w") as f:
    json.dump(provenance, f, indent=2, sort_keys=True)
  return out_dir


def import_deepfakebench(checkpoint, detector_name, out_dir, model_kwargs=None):
  """Imports a DeepfakeBench checkpoint as a run directory; returns (out_dir, parameter count)."""
  from fakedetect_jax.models import deepfakebench
  detector, variables = deepfakebench.load(checkpoint, detector_name, model_kwargs)
  config = imported_config(detector.model, detector.model_kwargs, detector.size)
  provenance = {
      "from": "deepfakebench",
      "detector": detector_name,
      "checkpoint": os.path.abspath(checkpoint),
      "sha256": _sha256(checkpoint),
      "architecture": detector.source,
      "model": detector.model,
      "model_kwargs": dict(detector.model_kwargs),
      "input": f"{detector.size} px RGB, (x / 255 - 0.5) / 0.5",
      "fake_probability": "softmax(logits)[:, 1] = sigmoid(our logit)",
      "trained_on": "FaceForensics++ c23 (DeepfakeBench's released weights)"
  }
  write_run(out_dir, config, variables, provenance, media_settings(size=detector.size))
  n = sum(int(np.prod(np.shape(x))) for x in jax.tree.leaves(variables["params"]))
  return out_dir, n
