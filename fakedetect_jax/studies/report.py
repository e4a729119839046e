"""Tables and plots of a study from its stored result rows alone (no data, no model).

    python -m fakedetect_jax.studies report WORKDIR

Writes WORKDIR/report/: rows.csv (every result row with its provenance), status.md (every run's
state) and whatever the study's report(rows, out_dir, arg) makes. The helpers below are what the
studies share: grouping over seeds (mean, standard deviation), markdown and CSV tables, an AUC
heatmap and metric-vs-strength curves.

AUC cells carry a 95% bootstrap interval, "0.9123 ± 0.0100 [0.881, 0.940]": mean ± std over seeds,
then the percentile interval of the seed mean over 1000 resamples of the test videos (with
replacement, stratified by label; a frame AUC takes every frame of a drawn video), from the
replicates each row stores (evaluate.auc_intervals). Every run on the same test videos gets the
same draws, so the seed mean is taken per resample. With one seed it is that row's interval.
"""
import csv
import glob
import json
import math
import os

import numpy as np

from fakedetect_jax import evaluate
from fakedetect_jax.studies import study as study_lib

PROVENANCE = ("study", "run", "seed", "config", "model", "config_hash", "git_commit",
              "train_dataset", "train_data_config", "train_dataset_version", "train_media_protocol",
              "eval", "dataset", "data_config", "dataset_version", "media_protocol", "split",
              "perturbation", "level", "checkpoint_step")
METRICS = ("frame_auc", "video_auc", "eer", "ap", "frame_ap", "acc", "balanced_acc",
           "tpr_at_fpr_1pct", "video_eer", "video_ap", "n_videos", "n_frames")
# rows.csv columns read from nested result keys: (column, path in the row).
DFB_KEYS = ("level", "frame_auc", "frame_eer", "frame_ap", "frame_acc", "video_auc", "video_eer",
            "video_ap", "video_acc", "n_videos", "n_frames")
NESTED = tuple((f"deepfakebench_{k}", ("deepfakebench", k)) for k in DFB_KEYS)
NESTED += tuple((f"{m}_ci_{end}", ("auc_ci", m, i))
                for m in ("frame_auc", "video_auc")
                for i, end in enumerate(("lo", "hi")))
# Result keys that are no tag of the row (nested results, stored per row in its JSON).
NOT_TAGS = {
    "methods", "per_method", "videos", "time", "tp", "fp", "tn", "fn", "deepfakebench", "auc_ci",
    "auc_bootstrap", "auc_ci_method", "by_modify_type"
}


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
  tag_keys = sorted({k for r in rows for k in r} - set(PROVENANCE) - set(METRICS) - NOT_TAGS)
  flat = [{**r, **{c: lookup(r, path) for c, path in NESTED}} for r in rows]
  write_csv(
      os.path.join(out_dir, "rows.csv"), flat,
      list(PROVENANCE) + tag_keys + list(METRICS) + [c for c, _ in NESTED])
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


def lookup(row, path):
  """row[path] for a key, a tuple of keys or a 'a.b.c' path into nested results; None if absent."""
  node = row
  for k in (path.split(".") if isinstance(path, str) else path):
    if isinstance(node, dict):
      node = node.get(k)
    elif isinstance(node, (list, tuple)) and isinstance(k, int) and -len(node) <= k < len(node):
      node = node[k]
    else:
      return None
  return node


def _path(metric):
  return tuple(metric.split(".")) if isinstance(metric, str) else tuple(metric)


def seed_interval(replicates, level=0.95):
  """(lo, hi) of the seed mean: replicates [seeds][resamples] of runs on the same test videos
  (paired draws) -> the percentile interval of their mean per resample; None when a run has
  none or they differ in length."""
  if not replicates or any(r is None for r in replicates) or len({len(r) for r in replicates}) != 1:
    return None
  reps = np.array([[np.nan if x is None else x for x in r] for r in replicates], np.float64)
  lo, hi = evaluate.percentile_interval(reps.mean(axis=0), level)
  return (lo, hi) if math.isfinite(lo) else None


class Cell(tuple):
  """(mean, std, n) of a metric over seeds, with .ci = (lo, hi) of an AUC (or None)."""

  def __new__(cls, mean, std, n, ci=None):
    cell = super().__new__(cls, (mean, std, n))
    cell.ci = ci
    return cell


def cell(values, replicates=None):
  """A Cell of the finite values (over seeds) and, given their runs' bootstrap replicates, the
  seed mean's interval; None without values."""
  if not values:
    return None
  return Cell(
      float(np.mean(values)), float(np.std(values)), len(values),
      seed_interval(replicates) if replicates else None)


def group(rows, keys, metric):
  """{key tuple: Cell (mean, std, n; .ci)} of `metric` (a key or a path into nested results,
  e.g. 'deepfakebench.frame_eer') over the rows sharing `keys` (i.e. over seeds). An AUC's cell
  carries the interval of its seed mean, from the rows' auc_bootstrap replicates."""
  values, reps = {}, {}
  path = _path(metric)
  for r in rows:
    v = lookup(r, path)
    if finite(v):
      key = tuple(r.get(k) for k in keys)
      values.setdefault(key, []).append(float(v))
      reps.setdefault(key, []).append(lookup(r, ("auc_bootstrap",) + path))
  return {k: cell(v, reps[k] if path[-1].endswith("auc") else None) for k, v in values.items()}


def fmt(cell):
  """(mean, std, n) -> '0.8123 ± 0.0100' (std shown when there are several seeds), followed by
  the 95% bootstrap interval ' [0.781, 0.842]' when the cell has one."""
  if cell is None:
    return "-"
  mean, std, n = cell[:3]
  ci = getattr(cell, "ci", None)
  return (f"{mean:.4f}" + (f" ± {std:.4f}" if n > 1 else "") +
          (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""))


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
