"""Tables and plots of a study from its stored result rows alone (no data, no model).

    python -m fakedetect_jax.studies report WORKDIR

Writes WORKDIR/report/: rows.csv (every result row with its provenance), status.md (every run's
state) and whatever the study's report(rows, out_dir, arg) makes. The helpers below are what the
studies share: grouping over seeds (mean, standard deviation), markdown and CSV tables, an AUC
heatmap and metric-vs-strength curves.
"""
import csv
import glob
import json
import math
import os

import numpy as np

from fakedetect_jax.studies import study as study_lib

PROVENANCE = ("study", "run", "seed", "config", "model", "config_hash", "git_commit",
              "train_dataset", "train_data_config", "train_dataset_version", "eval", "dataset",
              "data_config", "dataset_version", "split", "perturbation", "level", "checkpoint_step")
METRICS = ("frame_auc", "video_auc", "eer", "ap", "frame_ap", "acc", "balanced_acc",
           "tpr_at_fpr_1pct", "n_videos", "n_frames")


def load_rows(workdir):
  """Every stored result row of the study in workdir, in run and evaluation order."""
  rows = []
  for path in sorted(glob.glob(os.path.join(workdir, "runs", "*", "evals", "*.json"))):
    with open(path) as f:
      rows.append(json.load(f))
  return rows


def load_statuses(workdir):
  out = {}
  for path in sorted(glob.glob(os.path.join(workdir, "runs", "*", "status.json"))):
    with open(path) as f:
      out[os.path.basename(os.path.dirname(path))] = json.load(f)
  return out


def write_report(workdir):
  """Regenerates WORKDIR/report/ from the stored rows; returns its path."""
  with open(os.path.join(workdir, "study.json")) as f:
    meta = json.load(f)
  module = study_lib.load_study(meta["study"])
  out_dir = os.path.join(workdir, "report")
  os.makedirs(out_dir, exist_ok=True)
  rows = load_rows(workdir)
  tag_keys = sorted({k for r in rows for k in r} - set(PROVENANCE) - set(METRICS) -
                    {"methods", "per_method", "videos", "time", "tp", "fp", "tn", "fn"})
  write_csv(os.path.join(out_dir, "rows.csv"), rows, list(PROVENANCE) + tag_keys + list(METRICS))
  statuses = load_statuses(workdir)
  lines = ["| run | status | note |", "|---|---|---|"]
  lines += [f"| {n} | {s['status']} | {s.get('note', '')} |" for n, s in statuses.items()]
  _write(os.path.join(out_dir, "status.md"), "\n".join(lines))
  module.report(rows, out_dir, meta.get("arg"))
  return out_dir


def _write(path, text):
  with open(path, "w") as f:
    f.write(text.rstrip("\n") + "\n")


def write_csv(path, rows, columns):
  with open(path, "w", newline="") as f:
    w = csv.DictWriter(f, columns, extrasaction="ignore")
    w.writeheader()
    for r in rows:
      w.writerow({c: r.get(c, "") for c in columns})


def finite(x):
  return isinstance(x, (int, float)) and math.isfinite(x)


def group(rows, keys, metric):
  """{key tuple: (mean, std, n)} of `metric` over the rows sharing `keys` (i.e. over seeds)."""
  values = {}
  for r in rows:
    v = r.get(metric)
    if finite(v):
      values.setdefault(tuple(r.get(k) for k in keys), []).append(float(v))
  return {k: (float(np.mean(v)), float(np.std(v)), len(v)) for k, v in values.items()}


def fmt(cell):
  """(mean, std, n) -> '0.8123 ± 0.0100' (std shown when there are several seeds)."""
  if cell is None:
    return "-"
  mean, std, n = cell
  return f"{mean:.4f}" + (f" ± {std:.4f}" if n > 1 else "")


def markdown(header, body):
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
  return "\n".join(lines)


def write_table(out_dir, name, header, body, title=None):
  """out_dir/name.md and out_dir/name.csv with the same cells."""
  text = markdown(header, body)
  _write(os.path.join(out_dir, name + ".md"), (f"## {title}\n\n" if title else "") + text)
  with open(os.path.join(out_dir, name + ".csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(header)
    w.writerows(body)
  return text


def _pyplot():
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  return plt


def heatmap(matrix, rows, cols, path, title, label="AUC"):
  """A rows x cols matrix (NaN = not measured) as an annotated heatmap PNG."""
  plt = _pyplot()
  m = np.asarray(matrix, np.float64)
  fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(cols), 1.0 + 0.6 * len(rows)), dpi=100)
  im = ax.imshow(np.ma.masked_invalid(m), cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
  ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right")
  ax.set_yticks(range(len(rows)), rows)
  for i in range(m.shape[0]):
    for j in range(m.shape[1]):
      ax.text(
          j,
          i,
          "-" if np.isnan(m[i, j]) else f"{m[i, j]:.3f}",
          ha="center",
          va="center",
          color="white" if not np.isnan(m[i, j]) and m[i, j] < 0.75 else "black",
          fontsize=8)
  ax.set_xlabel("test dataset")
  ax.set_ylabel("trained on")
  ax.set_title(title)
  fig.colorbar(im, ax=ax, label=label)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


def curves(series, path, title, xlabel, ylabel="video AUC", xticks=None):
  """series: {name: (xs, means, stds)} -> line plot with error bars, PNG; xticks: labels of
  x = 0, 1, ... (e.g. the strength of each severity)."""
  plt = _pyplot()
  fig, ax = plt.subplots(figsize=(5, 3.8), dpi=100)
  for name, (xs, means, stds) in series.items():
    ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, label=name)
  if xticks is not None:
    ax.set_xticks(range(len(xticks)), xticks)
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  ax.set_title(title)
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)
