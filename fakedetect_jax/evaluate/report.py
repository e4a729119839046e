"""Results of one split: frame and video metrics, per-method rows, DeepfakeBench's metrics beside
ours, bootstrap intervals of the AUCs, a markdown table, an ROC plot."""
import numpy as np

from fakedetect_jax.evaluate import deepfakebench, metrics
from fakedetect_jax.evaluate.video import video_scores

TABLE_COLUMNS = ("frame_auc", "video_auc", "eer", "ap", "acc", "balanced_acc", "tpr_at_fpr_1pct")
# The heading of each column: every number says its level (and, for EER, its definition).
COLUMN_NAMES = {
    "frame_auc": "frame AUC",
    "video_auc": "video AUC",
    "eer": "video EER (interp.)",
    "ap": "video AP",
    "acc": "video ACC (at threshold)",
    "balanced_acc": "video balanced ACC",
    "tpr_at_fpr_1pct": "video TPR at FPR 1%"
}
DFB_COLUMNS = (("frame_auc", "frame AUC"), ("frame_eer", "frame EER (nearest ROC point)"),
               ("frame_ap", "frame AP"), ("frame_acc", "frame ACC (p > 0.5)"),
               ("video_auc", "video AUC (mean frame score per video name)"),
               ("video_eer", "video EER (nearest ROC point)"), ("video_ap", "video AP"),
               ("video_acc", "video ACC (p > 0.5)"))
# How the AUC intervals are drawn (auc_intervals).
BOOTSTRAP = dict(n=1000, seed=0, level=0.95)


def _videos(frame_scores, frame_labels, video_index, strategy):
  """The inputs as arrays, plus (videos, their scores by `strategy`, their labels, the row of
  each video's first frame)."""
  frame_scores = np.asarray(frame_scores, np.float64)
  frame_labels = np.asarray(frame_labels).astype(np.int64)
  video_index = np.asarray(video_index)
  videos, vscores = video_scores(frame_scores, video_index, strategy)
  first = {v: i for i, v in reversed(list(enumerate(video_index)))}
  rows = np.array([first[v] for v in videos], np.int64)
  return frame_scores, frame_labels, video_index, videos, vscores, frame_labels[rows], rows


def evaluate_scores(frame_scores,
                    frame_labels,
                    video_index,
                    methods=None,
                    strategy="mean",
                    threshold=0.5,
                    video_ids=None,
                    frame_level=True):
  """Every metric for one split.

  Args:
    frame_scores: [N] fake probability per frame.
    frame_labels: [N] 0 real / 1 fake.
    video_index: [N] video each frame belongs to.
    methods: optional [N] manipulation method name per frame ('real' for real videos).
    video_ids: optional [V] video ids, for DeepfakeBench's grouping of frames into videos.
    frame_level: rows are single frames (frames view); False for clips or whole videos.
  Returns:
    {metric: value, 'per_method': {method: {...}}, 'deepfakebench': {...}}; video-level metrics
    unless prefixed frame_ (eer: interpolated; video_eer and video_ap repeat eer and ap under
    names that say their level); 'deepfakebench': evaluate/deepfakebench.py's block.
  """
  frame_scores, frame_labels, video_index, videos, vscores, vlabels, first_rows = _videos(
      frame_scores, frame_labels, video_index, strategy)
  s = metrics.summary(vlabels, vscores, threshold)
  out = {
      "frame_auc": metrics.auc(frame_labels, frame_scores),
      "frame_ap": metrics.average_precision(frame_labels, frame_scores),
      "video_auc": s.pop("auc"),
      **s, "video_eer": s["eer"],
      "video_ap": s["ap"],
      "n_videos": int(videos.size),
      "n_frames": int(frame_scores.size),
      "deepfakebench": deepfakebench.block(frame_scores, frame_labels, video_index, video_ids,
                                           frame_level)
  }
  if methods is not None:
    methods = np.asarray(methods).astype(str)
    vmethods = methods[first_rows]
    fakes = sorted(set(vmethods[vlabels == 1]))
    if fakes:
      out["per_method"] = {}
      for m in fakes:
        keep_v = (vlabels == 0) | (vmethods == m)
        keep_f = (frame_labels == 0) | (methods == m)
        out["per_method"][m] = {
            "video_auc": metrics.auc(vlabels[keep_v], vscores[keep_v]),
            "frame_auc": metrics.auc(frame_labels[keep_f], frame_scores[keep_f]),
            "n_videos": int(np.sum(vmethods == m))
        }
  out["_roc"] = metrics.roc_curve(vlabels, vscores)[:2]
  return out


def _subset_intervals(frame_scores, frame_labels, video_index, vscores, vlabels, keep_f, keep_v, n,
                      seed):
  return {
      "video_auc": metrics.bootstrap_aucs(vlabels[keep_v], vscores[keep_v], None, n, seed),
      "frame_auc": metrics.bootstrap_aucs(frame_labels[keep_f], frame_scores[keep_f],
                                          video_index[keep_f], n, seed)
  }


def auc_intervals(frame_scores,
                  frame_labels,
                  video_index,
                  methods=None,
                  strategy="mean",
                  video_ids=None,
                  frame_level=True,
                  n=BOOTSTRAP["n"],
                  seed=BOOTSTRAP["seed"],
                  level=BOOTSTRAP["level"]):
  """Bootstrap intervals of every AUC of evaluate_scores (metrics.bootstrap_aucs: videos drawn
  with replacement, stratified by label; a frame AUC takes every frame of a drawn video).

  Returns {'auc_ci': {metric: [lo, hi], 'per_method': {m: {...}}, 'deepfakebench': {...}},
  'auc_bootstrap': the same tree with the n replicate AUCs of each, so intervals over several
  seeds can be drawn later (the draws depend on the videos only: runs on the same videos pair
  up), 'auc_ci_method': how they were drawn}.
  """
  frame_scores, frame_labels, video_index, videos, vscores, vlabels, first_rows = _videos(
      frame_scores, frame_labels, video_index, strategy)
  every_f, every_v = np.ones(frame_scores.size, bool), np.ones(videos.size, bool)
  reps = _subset_intervals(frame_scores, frame_labels, video_index, vscores, vlabels, every_f,
                           every_v, n, seed)
  if methods is not None:
    methods = np.asarray(methods).astype(str)
    vmethods = methods[first_rows]
    fakes = sorted(set(vmethods[vlabels == 1]))
    if fakes:
      reps["per_method"] = {
          str(m): _subset_intervals(frame_scores, frame_labels, video_index, vscores, vlabels,
                                    (frame_labels == 0) | (methods == m),
                                    (vlabels == 0) | (vmethods == m), n, seed) for m in fakes
      }
  dfb_labels = (frame_labels >= 1).astype(np.int64)
  if frame_level:
    keys = deepfakebench.frame_keys(video_index, video_ids)
    gscores, glabels = deepfakebench.group_means(frame_scores, dfb_labels, keys)
    # DeepfakeBench's frame AUC is ours (every frame, one AUC): the same replicates.
    reps["deepfakebench"] = {
        "frame_auc": reps["frame_auc"],
        "video_auc": metrics.bootstrap_aucs(glabels, gscores, None, n, seed)
    }
  else:
    gscores, glabels = deepfakebench.group_means(frame_scores, dfb_labels, video_index)
    reps["deepfakebench"] = {"video_auc": metrics.bootstrap_aucs(glabels, gscores, None, n, seed)}

  def tree(node, leaf):
    return {k: tree(v, leaf) if isinstance(v, dict) else leaf(v) for k, v in node.items()}

  return {
      "auc_ci": tree(reps, lambda r: list(metrics.percentile_interval(r, level))),
      "auc_bootstrap": tree(reps, lambda r: [round(float(x), 6) for x in r]),
      "auc_ci_method": {
          "level": level,
          "resamples": n,
          "seed": seed,
          "interval": "percentile",
          "resampled": "videos, with replacement, stratified by label (as many real and fake "
                       "videos as the split has); a frame AUC takes every frame of each drawn "
                       "video; per-method AUCs resample their own real and fake videos; "
                       "deepfakebench.video_auc resamples its videos (video names)"
      }
  }


def _fmt(v):
  return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.4f}"


def markdown_table(results):
  """results: {split: {metric: value}} -> a markdown table, one row per split and method, and
  below it DeepfakeBench's metrics of each split (evaluate/deepfakebench.py) where present."""
  head = "| split | " + " | ".join(COLUMN_NAMES[c] for c in TABLE_COLUMNS) + " | videos |"
  lines = [head, "|" + "---|" * (len(TABLE_COLUMNS) + 2)]
  for split, r in results.items():
    lines.append(f"| {split} | " + " | ".join(_fmt(r.get(c)) for c in TABLE_COLUMNS) +
                 f" | {r.get('n_videos', '-')} |")
    for m, mr in sorted(r.get("per_method", {}).items()):
      lines.append(f"| {split} / {m} | " + " | ".join(_fmt(mr.get(c)) for c in TABLE_COLUMNS) +
                   f" | {mr.get('n_videos', '-')} |")
  dfb = {split: r["deepfakebench"] for split, r in results.items() if r.get("deepfakebench")}
  if dfb:
    cols = [(k, name) for k, name in DFB_COLUMNS if any(k in b for b in dfb.values())]
    lines += [
        "", "DeepfakeBench's definitions (training/metrics/utils.py):", "",
        "| split | level | " + " | ".join(name for _, name in cols) + " | videos |",
        "|" + "---|" * (len(cols) + 3)
    ]
    for split, b in dfb.items():
      lines.append(f"| {split} | {b.get('level', '-')} | " +
                   " | ".join(_fmt(b.get(k)) for k, _ in cols) + f" | {b.get('n_videos', '-')} |")
  return "\n".join(lines + localization_table(results))


def localization_table(results):
  """Lines of the temporal-localization table (the avdeepfake1m SDK's AP, AR and challenge
  score, fractions) for the splits that have one, each followed by its modify types."""
  first = next((r for r in results.values() if "mean_AP" in r), None)
  if first is None:
    return []
  ar = sorted((k for k in first if k.startswith("AR@")), key=lambda k: -int(k[3:]))
  keys = [k for k in first if k.startswith("AP@")] + ar + ["mean_AP", "mean_AR", "score"]
  lines = [
      "", "Temporal localization (avdeepfake1m SDK, fractions; protocol in brackets):", "",
      "| split | " + " | ".join(keys) + " | videos |", "|" + "---|" * (len(keys) + 2)
  ]
  for split, r in results.items():
    if "mean_AP" not in r:
      continue
    lines.append(f"| {split} ({r.get('protocol', '-')}) | " +
                 " | ".join(_fmt(r.get(k)) for k in keys) + f" | {r.get('n_videos', '-')} |")
    for kind, m in sorted(r.get("by_modify_type", {}).items()):
      lines.append(f"| {split} / {kind} | " + " | ".join(_fmt(m.get(k)) for k in keys) +
                   f" | {m.get('n_videos', '-')} |")
  return lines


def plot_roc(curves, path):
  """curves: {name: (fpr, tpr)} -> ROC curve PNG at path."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
  for name, (fpr, tpr) in curves.items():
    ax.plot(fpr, tpr, label=name)
  ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
  ax.set_xlabel("false positive rate")
  ax.set_ylabel("true positive rate")
  ax.set_title("video-level ROC")
  ax.legend(loc="lower right")
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)
