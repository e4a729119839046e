"""Evaluate a trained run's best checkpoint on a split of any dataset, optionally perturbed.

    evaluate = RunEvaluator(config, workdir)
    result, extra = evaluate(Eval("celeb_df_v2", "celeb_df", "v2"))

The model, input view and media settings are the run's (config); only the dataset, its config,
the split and the methods change. Returns the metrics of evaluate.evaluate_scores plus the
per-video scores and labels (video ids, fake probability, label, video_label, audio_label,
method), so tables that need other groupings (FakeAVCeleb categories, fusion) can be computed
later from stored results alone.
"""
import copy

import jax
import numpy as np

from fakedetect_jax import evaluate, input as input_lib, models
from fakedetect_jax.errors import DataError
from fakedetect_jax.input import augment, sources
from fakedetect_jax.train import checkpoints, loop, state as state_lib
from fakedetect_jax.train.step import make_eval_step


class _Perturbed:
  """Frames read through one robustness distortion; each frame's noise is seeded by its row, so
  every model and batch size sees the same degraded test set."""

  def __init__(self, images, kind, level):
    self.images, self.kind, self.level = images, kind, level
    self.shape, self.dtype = images.shape, images.dtype

  def __len__(self):
    return len(self.images)

  def __getitem__(self, rows):
    rows = np.atleast_1d(np.arange(len(self))[rows])
    return np.stack([augment.perturb(self.images[r][None], self.kind, self.level, seed=int(r))[0]
                     for r in rows])


def eval_data_config(config, ev):
  data = copy.deepcopy(config.data)
  data.dataset, data.config, data.methods = ev.dataset, ev.data_config, tuple(ev.methods)
  return data


def restore_best(config, workdir, example):
  """(model, best state, mesh, checkpoint step) of a finished run (checkpoints.restore_best)."""
  mesh = state_lib.make_mesh()
  model = models.from_config(config)
  tx = state_lib.make_optimizer(config.optimizer, config.total_steps)
  state = jax.jit(lambda: state_lib.create_state(model, tx, config.data.image_size, config.seed,
                                                 example),
                  out_shardings=state_lib.replicated(mesh))()
  state, step = checkpoints.restore_best(workdir, state)
  return model, state, mesh, step


def video_labels(data_config, split):
  """{video_id: {label, video_label, audio_label}} of a split, read without decoding frames."""
  import tensorflow_datasets as tfds
  builder = sources.get_builder(data_config.dataset, data_config.config, data_config.data_dir)
  features = builder.info.features
  keys = [k for k in ("label", "video_label", "audio_label") if k in features]
  skip = {k: tfds.decode.SkipDecoding() for k in ("frames", "mouth") if k in features}
  out = {}
  for ex in tfds.as_numpy(builder.as_dataset(split=split, decoders=skip)):
    out[ex["video_id"].decode()] = {k: int(ex[k]) for k in keys}
  return out, str(builder.info.version)


class RunEvaluator:
  """Evaluations of one run's best checkpoint; the state is restored and the eval step compiled
  once, on the first evaluation, and shared by the next ones (same model, same input shapes)."""

  def __init__(self, config, workdir):
    self.config, self.workdir = config, workdir
    self._restored = None

  def __call__(self, ev):
    """(metrics and per-video scores, {checkpoint_step, dataset_version}) of evaluation ev."""
    config = self.config
    data = eval_data_config(config, ev)
    source = input_lib.load_split(data, ev.split)
    if ev.perturbation:
      if hasattr(source, "inputs"):
        raise DataError(f"evaluation {ev.name}: perturbations apply to frame views only, not "
                        f"data.view {data.view!r}")
      source = input_lib.FrameSource(_Perturbed(source.images, ev.perturbation, ev.level),
                                     source.labels, source.video_index, source.methods,
                                     source.video_ids)
    if self._restored is None:
      example = input_lib.views.example_input(source) if hasattr(source, "inputs") else None
      model, state, mesh, step = restore_best(config, self.workdir, example)
      self._restored = (state, mesh, step, make_eval_step(model, config, mesh))
    state, mesh, step, eval_step = self._restored
    scores = loop.predict(eval_step, state, source, config.eval.batch_size,
                          state_lib.batch_sharding(mesh))
    result = evaluate.evaluate_scores(scores, source.labels, source.video_index, source.methods,
                                      config.eval.video_strategy, config.eval.threshold)
    result.pop("_roc")
    videos, vscores = evaluate.video_scores(scores, source.video_index,
                                            config.eval.video_strategy)
    labels, version = video_labels(data, ev.split)
    first = {v: i for i, v in reversed(list(enumerate(source.video_index)))}
    result["videos"] = []
    for v, s in zip(videos, vscores):
      vid = str(source.video_ids[v])
      result["videos"].append({"id": vid, "score": float(s),
                               "method": str(source.methods[first[v]]), **labels.get(vid, {}),
                               **_presence(source, first[v])})
    return result, {"checkpoint_step": int(step), "dataset_version": version}


def _presence(source, row):
  """Whether the video has an audio track and a face, where the view knows (fusion masks a
  branch whose input is missing instead of trusting its score)."""
  inputs = getattr(source, "inputs", {})
  out = {}
  if "has_audio" in inputs:
    out["has_audio"] = bool(np.asarray(inputs["has_audio"][row]) > 0)
  if "face_found" in inputs:
    out["has_face"] = bool(np.asarray(inputs["face_found"][row]).any())
  return out
