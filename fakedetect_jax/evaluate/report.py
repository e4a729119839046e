"""Results of one split: frame and video metrics, per-method rows, a markdown table, an ROC plot."""
import numpy as np

from fakedetect_jax.evaluate import metrics
from fakedetect_jax.evaluate.video import video_scores

TABLE_COLUMNS = ("frame_auc", "video_auc", "eer", "ap", "acc", "balanced_acc", "tpr_at_fpr_1pct")


def evaluate_scores(frame_scores,
                    frame_labels,
                    video_index,
                    methods=None,
                    strategy="mean",
                    threshold=0.5):
  """Every metric for one split.

  Args:
    frame_scores: [N] fake probability per frame.
    frame_labels: [N] 0 real / 1 fake.
    video_index: [N] video each frame belongs to.
    methods: optional [N] manipulation method name per frame ('real' for real videos).
  Returns:
    {metric: value, 'per_method': {method: {...}}}; video-level metrics unless prefixed frame_.
  """
  frame_scores = np.asarray(frame_scores, np.float64)
  frame_labels = np.asarray(frame_labels).astype(np.int64)
  video_index = np.asarray(video_index)
  videos, vscores = video_scores(frame_scores, video_index, strategy)
  first = {v: i for i, v in reversed(list(enumerate(video_index)))}
  vlabels = frame_labels[[first[v] for v in videos]]
  s = metrics.summary(vlabels, vscores, threshold)
  out = {
      "frame_auc": metrics.auc(frame_labels, frame_scores),
      "frame_ap": metrics.average_precision(frame_labels, frame_scores),
      "video_auc": s.pop("auc"),
      **s, "n_videos": int(videos.size),
      "n_frames": int(frame_scores.size)
  }
  if methods is not None:
    methods = np.asarray(methods).astype(str)
    vmethods = methods[[first[v] for v in videos]]
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


def markdown_table(results):
  """results: {split: {metric: value}} -> a markdown table, one row per split and method."""
  head = "| split | " + " | ".join(TABLE_COLUMNS) + " | videos |"
  lines = [head, "|" + "---|" * (len(TABLE_COLUMNS) + 2)]
  fmt = lambda v: "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.4f}"
  for split, r in results.items():
    lines.append(f"| {split} | " + " | ".join(fmt(r.get(c)) for c in TABLE_COLUMNS) +
                 f" | {r.get('n_videos', '-')} |")
    for m, mr in sorted(r.get("per_method", {}).items()):
      lines.append(f"| {split} / {m} | " + " | ".join(fmt(mr.get(c)) for c in TABLE_COLUMNS) +
                   f" | {mr.get('n_videos', '-')} |")
  return "\n".join(lines)


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
