"""Evaluate a trained run's best checkpoint on a split of any dataset, optionally perturbed.

    evaluate = RunEvaluator(config, workdir)
    result, extra = evaluate(Eval("celeb_df_v2", "celeb_df", "v2"))

The model, input view and media settings are the run's (config); only the dataset, its config,
the split and the methods change. Returns the metrics of evaluate.evaluate_scores, the bootstrap
intervals of its AUCs (evaluate.auc_intervals: auc_ci, auc_bootstrap, auc_ci_method) and the
per-video scores and labels (video ids, fake probability, label, video_label, audio_label,
method, whether the video has an audio track and a face, its eye-blink features), so tables
that need other groupings (FakeAVCeleb categories, fusion) can be computed later from stored
results alone.
"""
import jax
import numpy as np

from fakedetect_jax import evaluate, models
from fakedetect_jax.errors import DataError
from fakedetect_jax.input import sources, views
from fakedetect_jax.train import checkpoints, evals as evals_lib, state as state_lib
from fakedetect_jax.train.step import make_eval_step


def eval_fields(ev):
  """A study's Eval as the fields of train/evals.py (config.evals, the evaluate CLI)."""
  return dict(
      evals_lib.EVAL_FIELDS,
      dataset=ev.dataset,
      data_config=ev.data_config,
      split=ev.split,
      methods=tuple(ev.methods),
      perturbation=ev.perturbation or "",
      level=ev.level)


def eval_data_config(config, ev):
  return evals_lib.eval_data_config(config, eval_fields(ev))


def restore_best(config, workdir, example):
  """(model, best state, mesh, checkpoint step) of a finished run (checkpoints.restore_best)."""
  mesh = state_lib.make_mesh()
  model = models.from_config(config)
  tx = state_lib.optimizer(config)
  state = jax.jit(
      lambda: state_lib.create_state(model, tx, config.data.image_size, config.seed, example),
      out_shardings=state_lib.replicated(mesh))()
  state, step = checkpoints.restore_best(workdir, state)
  return model, state, mesh, step


BLINK_KEYS = ("eye_aspect_ratio", "timestamps", "mouth_found")
SILENCE_KEYS = ("audio", "audio_valid", "timestamps")
SILENCE_SECONDS = 0.5  # what the silence-only detector hears: the first 0.5 s of audio


def silence_fields(example, hop_seconds=views.DEFAULT_HOP):
  """The silence-only detector's evidence on one stored example: {'lead_energy': mean power (dB)
  of its first SILENCE_SECONDS of audio as stored, 'lead_energy_trimmed': the same after
  views.trim_leading_silence}; a score is the negative (quiet start = fake). None without audio."""
  out = {
      "lead_energy": views.leading_energy(example, SILENCE_SECONDS, hop_seconds),
      "lead_energy_trimmed": views.leading_energy(
          views.trim_leading_silence(example, hop_seconds), SILENCE_SECONDS, hop_seconds)
  }
  return {k: v if np.isfinite(v) else None for k, v in out.items()}


def video_labels(data_config, split):
  """{video_id: {label, video_label, audio_label, has_audio, has_face, blink, lead_energy,
  lead_energy_trimmed}} of a split, read without decoding frames (each where the dataset stores
  it). has_face: a face in any stored frame; blink: fusion.blink's features of the video's
  eye-aspect-ratio series, as the fused detector computes them at prediction time; lead_energy
  (and _trimmed): silence_fields, the silence-only detector's evidence. The fusions mask a branch
  whose input a video lacks instead of trusting its score."""
  from fakedetect_jax.fusion import blink
  builder = sources.get_builder(data_config.dataset, data_config.config, data_config.data_dir)
  features = builder.info.features
  keys = [k for k in ("label", "video_label", "audio_label") if k in features]
  extra = [
      k for k in dict.fromkeys(("has_audio", "face_found", *BLINK_KEYS, *SILENCE_KEYS))
      if k in features
  ]
  hop = sources.audio_hop(builder)
  out = {}
  for ex in sources.read_fields(builder, split, keys + extra + ["video_id"]):
    row = {k: int(ex[k]) for k in keys}
    if "has_audio" in ex:
      row["has_audio"] = bool(ex["has_audio"])
    if "face_found" in ex:
      row["has_face"] = bool(np.any(ex["face_found"]))
    if all(k in ex for k in BLINK_KEYS):
      row["blink"] = [
          float(x) for x in blink.blink_features(*(np.asarray(ex[k])[None] for k in BLINK_KEYS))[0]
      ]
    if all(k in ex for k in SILENCE_KEYS):
      row.update(silence_fields(ex, hop))
    out[sources.text(ex["video_id"])] = row
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
    try:
      data, source = evals_lib.open_eval_source(config, eval_fields(ev))
    except evals_lib.ConfigError as e:
      raise DataError(f"evaluation {ev.name}: {e}") from None
    if self._restored is None:
      example = views.model_arg(source.example_inputs(), source.view)
      model, state, mesh, step = restore_best(config, self.workdir, example)
      self._restored = (state, mesh, step, make_eval_step(model, config, mesh))
    state, mesh, step, eval_step = self._restored
    scores, result = evals_lib.score_source(eval_step, state, source, config,
                                            state_lib.batch_sharding(mesh))
    if source.view == "segments":  # localization: the SDK's metrics; its files in the run
      evals_lib.save_predictions(self.workdir, ev.name, scores, source, result)
      _, version = video_labels(data, ev.split)
      return ({
          k: v for k, v in result.items() if not k.startswith("_")
      }, {
          "checkpoint_step": int(step),
          "dataset_version": version
      })
    result.pop("_roc")
    # Bootstrap intervals of every AUC (and their replicates, for the seed means of the tables).
    result.update(
        evaluate.auc_intervals(
            scores,
            source.labels,
            source.video_index,
            source.methods,
            config.eval.video_strategy,
            video_ids=source.video_ids,
            frame_level=source.view == "frames"))
    videos, vscores = evaluate.video_scores(scores, source.video_index, config.eval.video_strategy)
    labels, version = video_labels(data, ev.split)
    first = {v: i for i, v in reversed(list(enumerate(source.video_index)))}
    result["videos"] = []
    for v, s in zip(videos, vscores):
      vid = str(source.video_ids[v])
      result["videos"].append({
          "id": vid,
          "score": float(s),
          "method": str(source.methods[first[v]]),
          **labels.get(vid, {})
      })
    return result, {"checkpoint_step": int(step), "dataset_version": version}
