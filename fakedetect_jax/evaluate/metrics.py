"""Binary detection metrics on numpy arrays (label 1 = fake, score = fake probability).

Written from the definitions, not wrapped around scikit-learn, so the library has no sklearn
dependency; tests check each one against scikit-learn.
"""
import numpy as np


def _check(labels, scores):
  labels = np.asarray(labels).astype(np.int64).ravel()
  scores = np.asarray(scores, dtype=np.float64).ravel()
  if labels.shape != scores.shape:
    raise ValueError(f"labels {labels.shape} and scores {scores.shape} differ in length")
  return labels, scores


def roc_curve(labels, scores):
  """False and true positive rates at every distinct threshold, highest threshold first.

  Returns (fpr, tpr, thresholds) starting at (0, 0) with threshold +inf.
  """
  labels, scores = _check(labels, scores)
  order = np.argsort(-scores, kind="mergesort")
  scores, labels = scores[order], labels[order]
  # The last index of each run of tied scores: a threshold admits all ties at once.
  distinct = np.r_[np.flatnonzero(np.diff(scores)), labels.size - 1]
  tps = np.cumsum(labels)[distinct]
  fps = (distinct + 1) - tps
  pos, neg = labels.sum(), labels.size - labels.sum()
  tpr = np.r_[0.0, tps / pos] if pos else np.full(distinct.size + 1, np.nan)
  fpr = np.r_[0.0, fps / neg] if neg else np.full(distinct.size + 1, np.nan)
  return fpr, tpr, np.r_[np.inf, scores[distinct]]


def auc(labels, scores):
  """Area under the ROC curve; NaN when only one class is present."""
  labels, _ = _check(labels, scores)
  if labels.min(initial=0) == labels.max(initial=0):
    return float("nan")
  fpr, tpr, _ = roc_curve(labels, scores)
  return float(np.trapezoid(tpr, fpr))


def eer(labels, scores):
  """Equal error rate: where the false positive rate meets the false negative rate.

  Interpolated linearly between the two ROC points that straddle fpr == 1 - tpr.
  """
  fpr, tpr, _ = roc_curve(labels, scores)
  if np.isnan(fpr).any() or np.isnan(tpr).any():
    return float("nan")
  fnr = 1.0 - tpr
  diff = fpr - fnr  # rises from -1 to +1 along the curve
  i = int(np.flatnonzero(diff >= 0)[0])
  if i == 0 or diff[i] == 0:
    return float(fpr[i])
  t = -diff[i - 1] / (diff[i] - diff[i - 1])
  return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def average_precision(labels, scores):
  """Average precision: precision summed over recall steps (no interpolation)."""
  labels, scores = _check(labels, scores)
  if labels.sum() == 0:
    return float("nan")
  fpr, tpr, _ = roc_curve(labels, scores)
  pos, neg = labels.sum(), labels.size - labels.sum()
  tps, fps = tpr[1:] * pos, fpr[1:] * neg
  precision = tps / np.maximum(tps + fps, 1)
  return float(np.sum(np.diff(tpr) * precision))


def tpr_at_fpr(labels, scores, max_fpr=0.01):
  """The highest true positive rate among thresholds whose false positive rate <= max_fpr."""
  fpr, tpr, _ = roc_curve(labels, scores)
  ok = fpr <= max_fpr
  return float(tpr[ok].max()) if ok.any() else 0.0


def confusion(labels, scores, threshold=0.5):
  """Counts at a threshold (score >= threshold predicts fake)."""
  labels, scores = _check(labels, scores)
  pred = scores >= threshold
  return {
      "tp": int(np.sum(pred & (labels == 1))),
      "fp": int(np.sum(pred & (labels == 0))),
      "tn": int(np.sum(~pred & (labels == 0))),
      "fn": int(np.sum(~pred & (labels == 1)))
  }


def summary(labels, scores, threshold=0.5):
  """Every metric of the results table, for one set of scores."""
  c = confusion(labels, scores, threshold)
  n = max(sum(c.values()), 1)
  tpr = c["tp"] / max(c["tp"] + c["fn"], 1)
  tnr = c["tn"] / max(c["tn"] + c["fp"], 1)
  return {
      "auc": auc(labels, scores),
      "eer": eer(labels, scores),
      "ap": average_precision(labels, scores),
      "acc": (c["tp"] + c["tn"]) / n,
      "balanced_acc": (tpr + tnr) / 2,
      "tpr_at_fpr_1pct": tpr_at_fpr(labels, scores, 0.01),
      **c,
  }
