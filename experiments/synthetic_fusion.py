"""Every branch and their fusion on the embedded synthetic_av dataset: the proof that each branch
catches its own kind of fake and that the learned fusion beats every single branch.

  python experiments/synthetic_fusion.py --workdir=runs/fusion [--data_config=small_clips]

Branches (each trained by the one train loop, on the fakes it is meant to see plus all real
videos, evaluated on every video of validation and test):
  spatial   MesoNet-4 on single frames          (blend)
  temporal  a temporal transformer on clips     (flicker)
  lipsync   sync pre-training, then classifier  (lipsync: mouth does not follow the voice)
  audio     log-mel CNN                         (voice: converted voice)
Fusions (mean, max, logistic, mlp) are fitted on validation scores and scored on test. Writes
DIR/results.json {"branches": {branch: {"overall": auc, category/method: auc}}, "fusion":
{rule: {...}}}, DIR/results.md, every test video's branch and fused scores in
DIR/test_scores.json, and the fused detector DIR/detector (fusion.load_detector; `python -m
fakedetect_jax.predict VIDEO --detector=DIR/detector`).
Re-running resumes: finished branches are not retrained.
"""
import argparse
import dataclasses
import importlib.util
import json
import os
import sys

import jax
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from fakedetect_jax import config_lib, input as input_lib, models  # noqa: E402
from fakedetect_jax.evaluate import metrics  # noqa: E402
from fakedetect_jax.fusion import METHODS, Fusion, blink, save_detector  # noqa: E402
from fakedetect_jax.input import sources  # noqa: E402
from fakedetect_jax.predict.detector import choose_threshold  # noqa: E402
from fakedetect_jax.train import checkpoints, loop, state as state_lib  # noqa: E402
from fakedetect_jax.train.step import make_eval_step  # noqa: E402

CATEGORIES = ("RealVideo-FakeAudio", "FakeVideo-RealAudio", "FakeVideo-FakeAudio")
REAL_CATEGORY = "RealVideo-RealAudio"


def _config_file(name, arg):
  spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "configs", name + ".py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def branch_configs(data_config, scale, clip_len, steps=None, temporal_clip_len=None,
                   face_size=64):
  """{name: [config, ...]}: the runs of each branch in order (lipsync: sync, then classify).

  steps: {run name (spatial, temporal, lipsync_sync, lipsync, audio): steps} overrides;
  face_size: input pixels of the spatial and temporal branches.
  """
  n = lambda steps: max(10, int(steps * scale))
  spatial = config_lib.base_config()
  spatial.model.name = "meso4"
  spatial.data.config = data_config
  spatial.data.image_size = face_size
  spatial.data.label_key = "video_label"
  spatial.data.train_methods = ("real", "voice", "blend", "blend-voice")
  spatial.batch_size, spatial.total_steps = 32, n(300)
  spatial.optimizer.learning_rate, spatial.optimizer.warmup_steps = 2e-3, 20
  temporal = _config_file("temporal", f"data_config={data_config},"
                                      f"clip_len={temporal_clip_len or clip_len},"
                                      f"size={face_size},"
                                      f"steps={n(300)}")
  temporal.data.train_methods = ("real", "voice", "flicker", "flicker-voice")
  sync = _config_file("lipsync", f"data_config={data_config},clip_len={clip_len},"
                                 f"objective=sync,steps={n(200)}")
  lipsync = _config_file("lipsync", f"data_config={data_config},clip_len={clip_len},"
                                    f"steps={n(200)},label=video_label")
  lipsync.data.train_methods = ("real", "voice", "lipsync", "lipsync-voice")
  audio = _config_file("audio", f"data_config={data_config},steps={n(200)}")
  runs = {"spatial": [spatial], "temporal": [temporal], "lipsync": [sync, lipsync],
          "audio": [audio]}
  for name, configs in runs.items():
    for c in configs:
      run = name + ("_sync" if c.objective == "sync" else "")
      c.total_steps = (steps or {}).get(run, c.total_steps)
      c.log_every, c.eval_every, c.checkpoint_every = 25, 50, 50
      c.total_steps = -(-c.total_steps // 25) * 25
      c.eval.batch_size = 16
  return runs


def video_scores(config, workdir, split):
  """{video id: fake probability} of every video of `split` with the run's best state."""
  stored = os.path.join(workdir, "predictions", split + ".npz")
  if os.path.exists(stored):  # written by the train loop with the selected state
    with np.load(stored) as f:
      ids = f["video_ids"][f["video_index"]]
      return {v: float(f["scores"][ids == v].mean()) for v in np.unique(ids)}
  mesh = state_lib.make_mesh()
  model = models.from_config(config)
  source = input_lib.open_split(config.data, split)
  tx = state_lib.make_optimizer(config.optimizer, config.total_steps)
  example = input_lib.views.model_arg(source.example_inputs(), source.view)
  state = state_lib.create_state(model, tx, config.data.image_size, config.seed, example)
  state = jax.device_put(state, state_lib.replicated(mesh))
  state, _ = checkpoints.restore_best(workdir, state)
  rows = loop.predict(make_eval_step(model, config, mesh), state, source, config.eval.batch_size,
                      state_lib.batch_sharding(mesh))
  ids = source.video_ids[source.video_index]
  uniq = np.unique(ids)
  return {v: float(rows[ids == v].mean()) for v in uniq}


def split_table(data_config, data_dir, split):
  """Per-video label, method, category and input presence of a split, in record order (the
  records' small fields; no frame is decoded)."""
  builder = sources.get_builder("synthetic_av", data_config, data_dir)
  rows = sources.read_fields(builder, split, ["video_id", "label", "method", "category",
                                              "has_audio", "face_found"])
  return {"ids": np.array([sources.text(r["video_id"]) for r in rows]),
          "label": np.array([int(r["label"]) for r in rows]),
          "method": np.array([sources.text(r["method"]) for r in rows]),
          "category": np.array([sources.text(r["category"]) for r in rows]),
          "has_audio": np.array([bool(r["has_audio"]) for r in rows]),
          "has_face": np.array([bool(np.any(r["face_found"])) for r in rows])}


def blink_table(data_config, data_dir, split, ids):
  """[len(ids), len(blink.FEATURES)] blink features of each video, read from the TFDS split
  (eye-aspect-ratio series and timestamps; the frames are not decoded)."""
  builder = sources.get_builder("synthetic_av", data_config, data_dir)
  found = {}
  for ex in sources.read_fields(builder, split, ["video_id", "eye_aspect_ratio", "timestamps",
                                                 "mouth_found"]):
    found[sources.text(ex["video_id"])] = blink.blink_features(
        ex["eye_aspect_ratio"][None], ex["timestamps"][None], ex["mouth_found"][None])[0]
  return np.stack([found[str(v)] for v in ids])


def auc_rows(table, scores):
  """{'overall': AUC, each category and method: AUC of those videos against the real ones}."""
  real = table["label"] == 0
  ok = np.isfinite(scores)
  out = {"overall": metrics.auc(table["label"][ok], scores[ok])}
  for key, values in (("category", CATEGORIES), ("method", sorted(set(table["method"]) - {"real"}))):
    for v in values:
      keep = ok & ((table["category"] == REAL_CATEGORY if key == "category" else real)
                   | (table[key] == v))
      if np.any(table[key][keep] == v):
        out[v] = metrics.auc((table[key][keep] == v).astype(int), scores[keep])
  return out


NEEDS = {"spatial": ("face",), "temporal": ("face",), "lipsync": ("face", "audio"),
         "audio": ("audio",)}


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--workdir", required=True)
  p.add_argument("--data_config", default="small_clips")
  p.add_argument("--data_dir", default=None)
  p.add_argument("--clip_len", type=int, default=16)
  p.add_argument("--scale", type=float, default=1.0, help="multiplies every branch's steps")
  p.add_argument("--temporal_clip_len", type=int, help="default: --clip_len")
  p.add_argument("--face_size", type=int, default=64,
                 help="input pixels of the spatial and temporal branches")
  p.add_argument("--steps", default="", help="per-run steps, e.g. temporal=150,lipsync_sync=100")
  p.add_argument("--branches", default="spatial,temporal,lipsync,audio")
  p.add_argument("--blink", action="store_true",
                 help="learned fusions also read the eye-blink features (fusion/blink.py)")
  p.add_argument("--config", default=None,
                 help="arguments of configs/fusion.py (e.g. 'scale=0.5'); it then sets the "
                      "data config, clip lengths, steps and branches")
  args = p.parse_args(argv)
  names = args.branches.split(",")
  steps = {k: int(v) for k, v in (kv.split("=") for kv in filter(None, args.steps.split(",")))}
  if args.config is not None:
    fc = _config_file("fusion", args.config)
    args.data_config, args.clip_len = fc.data_config, fc.clip_len
    args.temporal_clip_len, names = fc.temporal_clip_len, list(fc.branches)
    args.face_size = fc.face_size
    steps = {**dict(fc.steps), **steps}
  runs = branch_configs(args.data_config, args.scale, args.clip_len, steps,
                        args.temporal_clip_len, args.face_size)
  final_dirs, scores = {}, {"validation": {}, "test": {}}
  for name in names:
    prev = None
    for i, c in enumerate(runs[name]):
      c.data.data_dir = args.data_dir
      wd = os.path.join(args.workdir, "branches", f"{name}{'_sync' if c.objective == 'sync' else ''}")
      if prev is not None:
        c.init_from = prev
      print(f"== {name}: {c.model.name}, {c.objective}, {c.total_steps} steps -> {wd}", flush=True)
      loop.train_and_evaluate(c, wd)
      prev = wd
    final_dirs[name] = prev
    for split in scores:
      scores[split][name] = video_scores(runs[name][-1], prev, split)

  tables = {s: split_table(args.data_config, args.data_dir, s) for s in scores}

  def matrix(split):
    t = tables[split]
    s = np.array([[scores[split][n].get(v, np.nan) for n in names] for v in t["ids"]])
    present = {"face": t["has_face"], "audio": t["has_audio"]}
    mask = np.stack([np.all([present[k] for k in NEEDS[n]], 0) for n in names], 1)
    return np.where(mask, s, np.nan), mask & np.isfinite(s), t

  val_s, val_m, val_t = matrix("validation")
  test_s, test_m, test_t = matrix("test")
  results = {"branches": {n: auc_rows(test_t, test_s[:, i]) for i, n in enumerate(names)},
             "fusion": {}}
  extra = {"validation": None, "test": None}
  if args.blink:
    extra = {s: blink_table(args.data_config, args.data_dir, s, t["ids"])
             for s, t in (("validation", val_t), ("test", test_t))}
  fusions = {}
  for method in METHODS:
    f = Fusion(method, names, extra_names=blink.FEATURES if args.blink else ())
    fusions[method] = f.fit(val_s, val_m, val_t["label"], extra=extra["validation"])
    results["fusion"][method] = auc_rows(test_t, f.predict(test_s, test_m, extra["test"]))
  # The verdict threshold, like a single run's (predict.detector): best balanced accuracy on
  # validation; the media config: the one the branches' training examples were encoded with.
  saved = fusions["logistic"]
  val_fused = saved.predict(val_s, val_m, extra["validation"])
  ok = np.isfinite(val_fused)
  threshold, bal = choose_threshold(val_t["label"][ok], val_fused[ok])
  builder = sources.get_builder("synthetic_av", args.data_config, args.data_dir)
  save_detector(os.path.join(args.workdir, "detector"), final_dirs, saved, threshold,
                f"best balanced accuracy on validation video scores ({bal:.3f})",
                dataclasses.asdict(builder.builder_config.media))
  test_fused = {m: f.predict(test_s, test_m, extra["test"]) for m, f in fusions.items()}
  per_video = {str(v): {**{n: _finite(test_s[i, j]) for j, n in enumerate(names)},
                        **{"fusion_" + m: _finite(p[i]) for m, p in test_fused.items()},
                        "method": str(test_t["method"][i]), "label": int(test_t["label"][i])}
               for i, v in enumerate(test_t["ids"])}
  with open(os.path.join(args.workdir, "test_scores.json"), "w") as fh:
    json.dump(per_video, fh, indent=1, sort_keys=True)
  with open(os.path.join(args.workdir, "results.json"), "w") as fh:
    json.dump(results, fh, indent=2, sort_keys=True)
  table = markdown(results)
  with open(os.path.join(args.workdir, "results.md"), "w") as fh:
    fh.write(table + "\n")
  print(table)
  return results


def _finite(x):
  return float(x) if np.isfinite(x) else None


def markdown(results):
  rows = [("branch " + k, v) for k, v in results["branches"].items()] + [
      ("fusion " + k, v) for k, v in results["fusion"].items()]
  cols = ["overall"] + [c for c in CATEGORIES if c in rows[0][1]] + sorted(
      {k for _, r in rows for k in r} - {"overall", *CATEGORIES})
  lines = ["| test AUC | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
  for name, r in rows:
    lines.append(f"| {name} | " + " | ".join(f"{r[c]:.3f}" if c in r else "-" for c in cols) + " |")
  return "\n".join(lines)


if __name__ == "__main__":
  main()
