"""Cross-dataset generalization: train on each dataset, test on every dataset.

  python -m fakedetect_jax.studies run experiments/studies/cross_dataset.py --data_dir=D --workdir=W
  python -m fakedetect_jax.studies run experiments/studies/cross_dataset.py:config=meso4.py ...

Rows: each training set, and FF++ restricted to one manipulation method (its real videos plus
that method's fakes). Columns: every test set, FF++ split into its methods as well (the AUC of
that method's fakes against FF++'s real videos). Model: MODEL (the FF++ baseline; the study's
argument config=<file in configs/> picks another) under the common protocol (32 frames, face
x1.3, 256 px), SEEDS seeds (mean ± std, with the 95% bootstrap interval of the seed mean over
resampled test videos: studies/report.py).

Writes W/report/cross_dataset_auc.{md,csv} (video AUC matrix), cross_dataset_frame_auc.{md,csv}
and cross_dataset_auc.png (heatmap of the video AUC means).
"""
import numpy as np

from fakedetect_jax.studies import Eval, Run
from fakedetect_jax.studies import report as tables

MODEL = "xception.py"
SIZE = 256
SEEDS = (0, 1, 2)
DATASETS = (  # (name, dataset, builder config, heading)
    ("ffpp_c23", "ffpp", "c23", "FF++ c23"),
    ("celeb_df_v2", "celeb_df", "v2", "Celeb-DF v2"),
    ("dfd", "ffpp", "dfd_c23", "DFD"),
    ("dfdc", "dfdc", "full", "DFDC"),
    ("dfdc_preview", "dfdc", "preview", "DFDC preview"),
)
FFPP_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter")


def _trainings():
  """(row name, dataset, builder config, methods kept for training)."""
  out = [(name, ds, cfg, ()) for name, ds, cfg, _ in DATASETS]
  out[1:1] = [(f"ffpp_c23_{m}", "ffpp", "c23", ("real", m)) for m in FFPP_METHODS]
  return out


def runs(arg=None):
  from fakedetect_jax import config_lib
  a = config_lib.parse_arg(arg, config=MODEL)
  evals = tuple(Eval(name, ds, cfg) for name, ds, cfg, _ in DATASETS)
  out = []
  for row, ds, cfg, methods in _trainings():
    for seed in SEEDS:
      # Test splits keep every method: methods filter the training and validation splits only.
      overrides = {"data.train_methods": methods} if methods else {}
      out.append(
          Run(name=f"{row}-s{seed}",
              evals=evals,
              seed=seed,
              overrides=overrides,
              config=f"{a.config}:dataset={ds},data_config={cfg},size={SIZE}",
              tags={"trained_on": row}))
  return out


def _columns():
  cols = []
  for name, _, _, heading in DATASETS:
    cols.append((name, None, heading))
    if name == "ffpp_c23":
      cols += [(name, m, f"FF++ {m}") for m in FFPP_METHODS]
  return cols


def matrix(rows, metric):
  """{(trained_on, column index): Cell (mean, std, n) over seeds, with the 95% bootstrap interval
  of the seed mean (studies/report.py)}."""
  cols, values, reps = _columns(), {}, {}
  for r in rows:
    for j, (name, method, _) in enumerate(cols):
      if r.get("eval") != name:
        continue
      path = (metric,) if method is None else ("per_method", method, metric)
      v = tables.lookup(r, path)
      if tables.finite(v):
        key = (r["trained_on"], j)
        values.setdefault(key, []).append(float(v))
        reps.setdefault(key, []).append(tables.lookup(r, ("auc_bootstrap",) + path))
  return {k: tables.cell(v, reps[k]) for k, v in values.items()}


def report(rows, out_dir, arg=None):
  rows = [r for r in rows if r.get("trained_on")]
  cols = _columns()
  trained = [t[0] for t in _trainings() if any(r["trained_on"] == t[0] for r in rows)]
  for metric, name in (("video_auc", "cross_dataset_auc"), ("frame_auc",
                                                            "cross_dataset_frame_auc")):
    cells = matrix(rows, metric)
    present = [j for j in range(len(cols)) if any((t, j) in cells for t in trained)]
    body = [[t] + [tables.fmt(cells.get((t, j))) for j in present] for t in trained]
    tables.write_table(
        out_dir, name, ["trained on \\ tested on"] + [cols[j][2] for j in present], body,
        f"Cross-dataset {metric.replace('_', ' ').replace('auc', 'AUC')} "
        f"(mean ± std over seeds [95% bootstrap interval over test videos])")
    if metric == "video_auc" and trained and present:
      grid = [[cells[(t, j)][0] if (t, j) in cells else np.nan for j in present] for t in trained]
      tables.heatmap(grid, trained, [cols[j][2] for j in present], f"{out_dir}/{name}.png",
                     "Cross-dataset video AUC", "video AUC")
