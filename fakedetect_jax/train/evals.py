"""Scoring a state on sources, and the evaluations a config asks for (`config.evals`).

`config.evals = {name: dict(dataset, data_config, split, methods, perturbation, level)}`: after
training, the loop scores the selected checkpoint on each (same model, view and media settings;
only the data changes) and writes `<workdir>/evals/<name>.json`, with the same metric keys as
results.json's test block. `python -m fakedetect_jax.evaluate` runs the same on a finished run.
"""
import copy
import json
import os

import jax
import ml_collections
import numpy as np

from fakedetect_jax import evaluate, input as input_lib
from fakedetect_jax.errors import ConfigError

# data_dir: '' = the run's data.data_dir.
EVAL_FIELDS = dict(
    dataset="", data_config="", split="test", methods=(), perturbation="", level=0, data_dir="")


def predict(eval_step, state, source, batch_size, sharding, workers=0):
  """Fake probability of every row of a source, in order."""
  scores = []
  for inputs, valid in input_lib.eval_batches(source, batch_size, sharding, workers):
    scores.append(np.asarray(jax.device_get(eval_step(state, inputs)))[:valid])
  return np.concatenate(scores) if scores else np.zeros(0)


def score_source(eval_step, state, source, config, sharding):
  """(scores, metrics) of a source under the run's video strategy and threshold; a segments
  view source is scored for temporal localization (train/localize_eval.py)."""
  if source.view == "segments":
    from fakedetect_jax.train import localize_eval
    return localize_eval.score_source(eval_step, state, source, config, sharding)
  scores = predict(eval_step, state, source, config.eval.batch_size, sharding,
                   input_lib.pipeline.workers(config.data))
  return scores, evaluate.evaluate_scores(
      scores,
      source.labels,
      source.video_index,
      source.methods,
      config.eval.video_strategy,
      config.eval.threshold,
      video_ids=source.video_ids,
      frame_level=source.view == "frames")


def save_predictions(workdir, split, scores, source, result=None):
  """predictions/<split>.npz: the score of every row with what identifies it, so fusion and
  later analyses need not run the model again. A segments-view source (with its scored
  `result`) writes the challenge-format files instead (localize_eval.save)."""
  if jax.process_index() != 0:
    return
  if source.view == "segments":
    from fakedetect_jax.train import localize_eval
    os.makedirs(os.path.join(workdir, "predictions"), exist_ok=True)
    return localize_eval.save(workdir, split, result)
  os.makedirs(os.path.join(workdir, "predictions"), exist_ok=True)
  path = os.path.join(workdir, "predictions", split + ".npz")
  with open(path + ".tmp", "wb") as f:
    np.savez(
        f,
        scores=scores,
        labels=source.labels,
        video_index=source.video_index,
        methods=source.methods,
        video_ids=source.video_ids)
  os.replace(path + ".tmp", path)


def parse_eval(text):
  """'celeb_df/v2' or 'celeb_df/v2:validation' -> (name, eval fields)."""
  dataset, _, rest = text.partition("/")
  data_config, _, split = rest.partition(":")
  if not dataset or not data_config:
    raise ConfigError(f"--eval={text!r}: expected <dataset>/<builder config>[:<split>], e.g. "
                      f"celeb_df/v2 or synthetic_av/small")
  fields = dict(EVAL_FIELDS, dataset=dataset, data_config=data_config, split=split or "test")
  return eval_name(fields), fields


def eval_name(fields):
  name = f"{fields['dataset']}_{fields['data_config']}"
  if fields.get("split", "test") != "test":
    name += f"_{fields['split']}"
  if fields.get("perturbation"):
    name += f"_{fields['perturbation']}{fields.get('level', 0)}"
  return name


def eval_fields(ev):
  unknown = set(ev) - set(EVAL_FIELDS)
  if unknown:
    raise ConfigError(f"config.evals entry has unknown fields {sorted(unknown)}; known: "
                      f"{sorted(EVAL_FIELDS)}")
  out = dict(EVAL_FIELDS, **dict(ev))
  if not out["dataset"] or not out["data_config"]:
    raise ConfigError(f"config.evals entry {dict(ev)} needs dataset and data_config")
  return out


def eval_data_config(config, fields):
  """The run's data config (view, image size, label key, media) on another dataset."""
  data = copy.deepcopy(config.data)
  with data.unlocked() if hasattr(data, "unlocked") else _nullcontext():
    data.dataset, data.config = fields["dataset"], fields["data_config"]
    data.methods = tuple(fields.get("methods") or ())
    if fields.get("data_dir"):
      data.data_dir = fields["data_dir"]
  return data


class _nullcontext:

  def __enter__(self):
    return self

  def __exit__(self, *a):
    return False


def open_eval_source(config, fields, process_index=0, barrier=lambda: None):
  data = eval_data_config(config, fields)
  if data.label_key != "label" and data.dataset != "npz":
    # A run trained on one stream's label (e.g. synthetic_av's video_label) is scored against
    # the overall label of a dataset that has only that one (every visual-only dataset).
    builder = input_lib.sources.get_builder(data.dataset, data.config, data.data_dir)
    if data.label_key not in builder.info.features:
      data.label_key = "label"
  source = input_lib.open_split(data, fields["split"], process_index, barrier)
  if fields.get("perturbation"):
    if source.view != "frames":
      raise ConfigError(f"evaluation {eval_name(fields)}: perturbations apply to the frames view "
                        f"only, not data.view {source.view!r}")
    source = source.perturbed(fields["perturbation"], int(fields["level"]))
  return data, source


def run_evals(eval_step, state, config, workdir, sharding, evals, step=None):
  """Scores state on every evaluation of `evals` ({name: fields}); writes evals/<name>.json
  (host 0) and returns {name: metrics}."""
  out = {}
  for name, ev in evals.items():
    fields = eval_fields(ev)
    _, source = open_eval_source(config, fields, jax.process_index())
    scores, result = score_source(eval_step, state, source, config, sharding)
    if source.view == "segments":  # the challenge-format files, as for the run's own splits
      save_predictions(workdir, name, scores, source, result)
    result = {k: v for k, v in result.items() if not k.startswith("_")}
    out[name] = result
    if jax.process_index() == 0:
      os.makedirs(os.path.join(workdir, "evals"), exist_ok=True)
      path = os.path.join(workdir, "evals", name + ".json")
      with open(path + ".tmp", "w") as f:
        json.dump({
            **result, "eval": _jsonable(fields),
            "checkpoint_step": step
        },
                  f,
                  indent=2,
                  sort_keys=True)
      os.replace(path + ".tmp", path)
  return out


def _jsonable(fields):
  return {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}


def config_evals(config):
  evals = config.get("evals") or {}
  if isinstance(evals, ml_collections.ConfigDict):
    evals = evals.to_dict()
  return dict(evals)


def evaluate_run(workdir, evals):
  """Scores a finished run's selected (best) checkpoint on `evals` ({name: fields}); writes
  <workdir>/evals/<name>.json and returns {name: metrics}. An evaluation on the run's own
  dataset without methods keeps the run's data.methods (the same task on another split)."""
  import jax.numpy as jnp  # noqa: F401  (models.from_config builds in the run's dtype)
  from fakedetect_jax import models
  from fakedetect_jax.input import views
  from fakedetect_jax.train import checkpoints, state as state_lib
  from fakedetect_jax.train.step import make_eval_step
  config = load_run_config(workdir)
  for fields in evals.values():
    # The run's own dataset is scored on the run's task (its methods) unless told otherwise.
    if not fields.get("methods") and fields["dataset"] == config.data.dataset:
      fields["methods"] = tuple(config.data.methods)
  mesh = state_lib.make_mesh()
  model = models.from_config(config)
  first = eval_fields(next(iter(evals.values())))
  _, source = open_eval_source(config, first)
  example = views.model_arg(source.example_inputs(), source.view)
  tx = state_lib.optimizer(config)
  state = jax.jit(
      lambda: state_lib.create_state(model, tx, config.data.image_size, config.seed, example),
      out_shardings=state_lib.replicated(mesh))()
  state, step = checkpoints.restore_best(workdir, state)
  eval_step = make_eval_step(model, config, mesh)
  return run_evals(eval_step, state, config, workdir, state_lib.batch_sharding(mesh), evals, step)


def submission_fields(workdir):
  """The evaluation of a localization run's dataset's `submission` split (no labels)."""
  config = load_run_config(workdir)
  if config.data.get("view") != "segments":
    raise ConfigError(f"{workdir}: --submission needs a localization run (configs/"
                      f"localization.py); this one trains the {config.data.get('view')!r} view")
  return dict(
      EVAL_FIELDS, dataset=config.data.dataset, data_config=config.data.config, split="submission")


def load_run_config(workdir):
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise ConfigError(f"{workdir}: not a run directory (no config.json; train one with "
                      f"python -m fakedetect_jax.main)")
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))
