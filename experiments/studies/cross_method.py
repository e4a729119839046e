"""Cross-method generalization on real faces: train on one fake method, test on each.

  python -m fakedetect_jax.studies run experiments/studies/cross_method.py --workdir=W
  python -m fakedetect_jax.studies run experiments/studies/cross_method.py:models=meso4,steps=600 ...

Data: synthetic_av's `real` config (datasets/synthetic_av/real_render.py: 13 real people, the
real datasets' manipulations; built on first use from the folder of
`python -m fakedetect_jax.testing.real_media fetch`). The task is the video label: real video
(methods real and voice) against one visual method. Each row trains on the real videos plus one
method's fakes (train and validation; `data.train_methods`); each column is the test AUC of one
method's fakes against every real test video (results.json per_method), on people no run has
seen. The diagonal is within-method; an off-diagonal cell says whether what a detector learnt
from one manipulation finds another.

Models (the study's argument models, ':'-separated names of MODELS): MesoNet-4, Xception and
ViT-S/16, from scratch at the stored face size. Other arguments: steps, seeds (count),
data_config (real | real_tiny).

Writes W/report/cross_method_<model>.{md,csv} (video AUC matrix, mean ± std over seeds with
the 95% bootstrap interval over test videos), cross_method_<model>.png (heatmap) and
cross_method_transfer.md (per model and training method: the diagonal and the mean of the
off-diagonal cells).
"""
import numpy as np

from fakedetect_jax.studies import Eval, Run
from fakedetect_jax.studies import report as tables

METHODS = ("faceswap", "reenact", "blend", "flicker", "lipsync")
MODELS = {  # name: config file and its arguments
    "meso4": "meso4.py",
    "xception": "xception.py",
    "vit": "vit.py:variant=s16",
}
REAL_METHODS = ("real", "voice")  # real video, whatever the audio (the label is video_label)


def _args(arg):
  from fakedetect_jax import config_lib
  a = config_lib.parse_arg(
      arg, models="meso4:xception:vit", steps=300, seeds=1, data_config="real", size=96)
  models = [m for m in str(a.models).split(":") if m]
  unknown = [m for m in models if m not in MODELS]
  if unknown:
    raise config_lib.ConfigError(f"cross_method: unknown models {unknown}; known: "
                                 f"{', '.join(MODELS)}")
  return a, models


def runs(arg=None):
  a, models = _args(arg)
  evals = (Eval("real_test", "synthetic_av", a.data_config),)
  out = []
  for model in models:
    file, _, extra = MODELS[model].partition(":")
    spec = f"{file}:dataset=synthetic_av,data_config={a.data_config},size={a.size},steps={a.steps}"
    spec += "," + extra if extra else ""
    for method in METHODS:
      for seed in range(int(a.seeds)):
        out.append(
            Run(
                name=f"{model}-{method}-s{seed}",
                config=spec,
                evals=evals,
                seed=seed,
                overrides={
                    "data.label_key": "video_label",
                    "data.methods": (),
                    "data.train_methods": REAL_METHODS + (method,),
                    # The zoo configs warm up over 1000 steps, sized for their 20000.
                    "optimizer.warmup_steps": int(a.steps) // 10,
                },
                tags={
                    "detector": model,
                    "trained_on": method
                }))
  return out


def matrix(rows, model, metric="video_auc"):
  """{(training method, test method): Cell over seeds} of one model."""
  values, reps = {}, {}
  for r in rows:
    if r.get("detector") != model:
      continue
    for method in METHODS:
      path = ("per_method", method, metric)
      v = tables.lookup(r, path)
      if tables.finite(v):
        key = (r["trained_on"], method)
        values.setdefault(key, []).append(float(v))
        reps.setdefault(key, []).append(tables.lookup(r, ("auc_bootstrap",) + path))
  return {k: tables.cell(v, reps[k]) for k, v in values.items()}


def transfer(cells):
  """{training method: (diagonal mean, mean of the off-diagonal means)} of one model's matrix."""
  out = {}
  for m in METHODS:
    off = [cells[(m, t)][0] for t in METHODS if t != m and (m, t) in cells]
    if (m, m) in cells or off:
      out[m] = (cells[(m, m)][0] if
                (m, m) in cells else np.nan, float(np.mean(off)) if off else np.nan)
  return out


def report(rows, out_dir, arg=None):
  rows = [r for r in rows if r.get("detector")]
  summary = []
  for model in MODELS:
    cells = matrix(rows, model)
    if not cells:
      continue
    trained = [m for m in METHODS if any((m, t) in cells for t in METHODS)]
    body = [[m] + [tables.fmt(cells.get((m, t))) for t in METHODS] for m in trained]
    tables.write_table(
        out_dir, f"cross_method_{model}", ["trained on \\ tested on"] + list(METHODS), body,
        f"{model}: cross-method test video AUC on synthetic_av real faces (mean ± std over "
        "seeds [95% bootstrap interval over test videos])")
    grid = [[cells[(m, t)][0] if (m, t) in cells else np.nan for t in METHODS] for m in trained]
    tables.heatmap(grid, trained, list(METHODS), f"{out_dir}/cross_method_{model}.png",
                   f"{model}: cross-method video AUC", "video AUC")
    for m, (diag, off) in transfer(cells).items():
      summary.append([model, m, f"{diag:.3f}", f"{off:.3f}"])
  if summary:
    tables.write_table(out_dir, "cross_method_transfer",
                       ["model", "trained on", "same method", "mean of the other methods"], summary,
                       "Within-method and cross-method test video AUC")
