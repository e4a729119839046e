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


def roc_curve(labels, scores, drop_intermediate=False):
  """False and true positive rates at every distinct threshold, highest threshold first.

  Returns (fpr, tpr, thresholds) starting at (0, 0) with threshold +inf. drop_intermediate:
  leave out every point whose two neighbours are one equal step away on both axes (the middle of
  a straight, evenly stepped run), as scikit-learn's roc_curve does by default; the area is the
  same, but which points exist matters to a metric that picks one of them (eer_nearest).
  """
  labels, scores = _check(labels, scores)
  order = np.argsort(-scores, kind="mergesort")
  scores, labels = scores[order], labels[order]
  # The last index of each run of tied scores: a threshold admits all ties at once.
  distinct = np.r_[np.flatnonzero(np.diff(scores)), labels.size - 1]
  tps = np.cumsum(labels)[distinct]
  fps = (distinct + 1) - tps
  if drop_intermediate and distinct.size > 2:
    keep = np.r_[True, (np.diff(fps, 2) != 0) | (np.diff(tps, 2) != 0), True]
    distinct, tps, fps = distinct[keep], tps[keep], fps[keep]
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


def eer_nearest(labels, scores):
  """Equal error rate as DeepfakeBench computes it (training/metrics/utils.py): the false positive
  rate of the ROC point where |fnr - fpr| is smallest (fnr = 1 - tpr; the first such point from
  the highest threshold down), on scikit-learn's default curve (drop_intermediate). No
  interpolation: on few videos it can differ from eer() by a whole ROC step."""
  labels, _ = _check(labels, scores)
  if labels.min(initial=0) == labels.max(initial=0):
    return float("nan")
  fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=True)
  return float(fpr[int(np.argmin(np.abs((1.0 - tpr) - fpr)))])


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


def _weighted_aucs(labels, scores, counts, unit, chunk_elems=1 << 22):
  """ROC AUC of every resampled set: row i counts counts[b, unit[i]] times in resample b
  (counts [B, U], unit [N]); one sort of the scores serves every resample. A resampled set with
  copies of a row has those copies tied, so its curve is the weighted one computed here."""
  labels, scores = _check(labels, scores)
  order = np.argsort(-scores, kind="mergesort")
  labels, unit = labels[order], np.asarray(unit)[order]
  distinct = np.r_[np.flatnonzero(np.diff(scores[order])), labels.size - 1]
  pos = labels == 1
  out = np.empty(counts.shape[0])
  step = max(1, chunk_elems // max(labels.size, 1))
  for start in range(0, counts.shape[0], step):
    w = counts[start:start + step][:, unit].astype(np.float64)
    tps = np.cumsum(np.where(pos, w, 0.0), axis=1)[:, distinct]
    fps = np.cumsum(np.where(pos, 0.0, w), axis=1)[:, distinct]
    with np.errstate(invalid="ignore", divide="ignore"):
      tpr = np.concatenate([np.zeros((len(w), 1)), tps / tps[:, -1:]], axis=1)
      fpr = np.concatenate([np.zeros((len(w), 1)), fps / fps[:, -1:]], axis=1)
    out[start:start + len(w)] = np.sum(np.diff(fpr, axis=1) * (tpr[:, 1:] + tpr[:, :-1]) / 2, 1)
  return out


def bootstrap_draws(video_labels, n=1000, seed=0):
  """[n, V] indices of the videos drawn by each of n resamples: with replacement, as many of
  each label as there are, from the videos of that label (real ones first); None when a label
  has no video. Depends only on (video_labels, n, seed)."""
  video_labels = np.asarray(video_labels).astype(np.int64).ravel()
  strata = [np.flatnonzero(video_labels == c) for c in (0, 1)]
  if any(s.size == 0 for s in strata):
    return None
  rng = np.random.default_rng(seed)
  return np.concatenate([s[rng.integers(0, s.size, size=(n, s.size))] for s in strata], axis=1)


def bootstrap_aucs(labels, scores, groups=None, n=1000, seed=0):
  """AUCs of `n` bootstrap resamples of the videos.

  Each resample (bootstrap_draws) draws, with replacement, as many videos as there are of each
  label from the videos of that label (stratified by label: every resample keeps the class
  counts, so its AUC is defined); a drawn video brings all its rows (frames) with it, as many
  times as it is drawn.
  The draws depend only on (video labels in video order, n, seed): two runs scored on the same
  videos get the same draws, so their replicates pair up (the mean over seeds per replicate is
  the bootstrap of the seed mean).

  Args:
    labels: [N] 0/1 per row.
    scores: [N] per row.
    groups: [N] video of each row (frames of videos); None = every row is its own video. A
      video's label is that of its first row.
  Returns:
    [n] float64 replicate AUCs (all NaN when a label has no video).
  """
  labels, scores = _check(labels, scores)
  if groups is None:
    unit, unit_labels = np.arange(labels.size), labels
  else:
    groups = np.asarray(groups).ravel()
    if groups.shape != labels.shape:
      raise ValueError(f"groups {groups.shape} and labels {labels.shape} differ in length")
    _, first, unit = np.unique(groups, return_index=True, return_inverse=True)
    unit_labels = labels[first]
  n_units = unit_labels.size
  drawn = bootstrap_draws(unit_labels, n, seed)
  if drawn is None:
    return np.full(n, np.nan)
  flat = (drawn + n_units * np.arange(n)[:, None]).ravel()
  counts = np.bincount(flat, minlength=n * n_units).reshape(n, n_units)
  return _weighted_aucs(labels, scores, counts, unit.ravel())


def percentile_interval(replicates, level=0.95):
  """(lo, hi): the central `level` percentile interval of bootstrap replicates (NaN ignored)."""
  r = np.asarray(replicates, np.float64)
  r = r[np.isfinite(r)]
  if r.size == 0:
    return float("nan"), float("nan")
  lo, hi = np.percentile(r, [50 * (1 - level), 50 * (1 + level)])
  return float(lo), float(hi)


def bootstrap_ci(labels, scores, groups=None, n=1000, seed=0, level=0.95):
  """(lo, hi): the 95% (level) percentile bootstrap interval of the ROC AUC, resampling videos
  with replacement, stratified by label (bootstrap_aucs; groups: the video of each row, for a
  frame-level AUC whose frames go in with their video)."""
  return percentile_interval(bootstrap_aucs(labels, scores, groups, n, seed), level)
