"""DeepfakeBench's test metrics, so our numbers can stand beside the ones published with it.

DeepfakeBench (SCLBD/DeepfakeBench, training/metrics/utils.py, get_test_metrics) scores every
test frame of a frame model and reports, on the frames: AUC, EER as the false positive rate of
the ROC point nearest fnr == fpr (no interpolation, on scikit-learn's default ROC curve), average
precision, and accuracy at p(fake) > 0.5; and a video AUC of the mean frame score per video,
a video being every frame whose folder has the same name (the last folder of the frame's path).
Written here from those definitions; tests/test_metrics_deepfakebench.py checks them against
scikit-learn called as that file calls it.

Where they differ from ours (evaluate/report.py): our `eer` is video-level and interpolated
between the two ROC points that straddle fpr == fnr, our `ap` video-level, our `acc` video-level
at the run's threshold (score >= threshold), our video score the run's eval.video_strategy, and our
videos are the dataset's videos. DeepfakeBench's videos are their folder names: in FF++ the fakes
of different methods share names (Deepfakes/000_003 and Face2Face/000_003), so their video AUC
pools them into one "video"; here a video's name is the file name of its video id without the
extension, which is what their frame folders are called.

Video-level models (rows that are clips of a video, or a whole video) have no frame scores: the
block then holds video-level numbers only (the mean score of each video's rows; DeepfakeBench
scores its video-level detectors per video sample, with video AUC = AUC).
"""
import posixpath

import numpy as np

from fakedetect_jax.evaluate import metrics

GROUPED_BY = "video file name without extension (DeepfakeBench: the frames' folder name)"


def video_name(video_id):
  """'manipulated_sequences/Deepfakes/c23/videos/000_003.mp4' -> '000_003'."""
  base = posixpath.basename(str(video_id).replace("\\", "/"))
  return posixpath.splitext(base)[0] or base


def group_means(scores, labels, keys):
  """(mean score, label) per distinct key, DeepfakeBench's way: the label of a group is the
  integer part of its mean label (a group of mixed labels counts as real)."""
  scores = np.asarray(scores, np.float64)
  labels = np.asarray(labels, np.float64)
  _, inverse = np.unique(np.asarray(keys), return_inverse=True)
  inverse = inverse.ravel()
  count = np.bincount(inverse)
  mean_score = np.bincount(inverse, scores) / count
  mean_label = np.floor(np.bincount(inverse, labels) / count).astype(np.int64)
  return mean_score, mean_label


def frame_keys(video_index, video_ids=None):
  """The key DeepfakeBench groups each row's video by: its name (video_name) when the video ids
  are known, else the video index."""
  video_index = np.asarray(video_index)
  if video_ids is None:
    return video_index
  names = np.array([video_name(v) for v in np.asarray(video_ids)], dtype=str)
  return names[video_index]


def _binary(labels):
  # Their y_true[y_true >= 1] = 1 (UCF-style multi-class fake labels count as fake).
  return (np.asarray(labels).astype(np.int64) >= 1).astype(np.int64)


def _acc(labels, scores):
  return float(np.mean((np.asarray(scores) > 0.5) == (labels == 1))) if len(labels) else np.nan


def block(scores, labels, video_index, video_ids=None, frame_level=True):
  """The `deepfakebench` block of a split's results.

  Args:
    scores: [N] fake probability per row.
    labels: [N] 0 real / 1 fake per row.
    video_index: [N] video of each row (index into video_ids).
    video_ids: optional [V] video ids (paths); groups videos by name as DeepfakeBench does.
    frame_level: rows are single frames (the frames view); otherwise clips or whole videos.
  Returns:
    frame level: {level: 'frame', frame_auc, frame_eer, frame_ap, frame_acc, video_auc, n_frames,
    n_videos, videos_grouped_by}; video level: {level: 'video', video_auc, video_eer, video_ap,
    video_acc, n_videos}.
  """
  scores = np.asarray(scores, np.float64).ravel()
  labels = _binary(labels).ravel()
  if frame_level:
    vscores, vlabels = group_means(scores, labels, frame_keys(video_index, video_ids))
    return {
        "level": "frame",
        "frame_auc": metrics.auc(labels, scores),
        "frame_eer": metrics.eer_nearest(labels, scores),
        "frame_ap": metrics.average_precision(labels, scores),
        "frame_acc": _acc(labels, scores),
        "video_auc": metrics.auc(vlabels, vscores),
        "n_frames": int(scores.size),
        "n_videos": int(vscores.size),
        "videos_grouped_by": GROUPED_BY
    }
  vscores, vlabels = group_means(scores, labels, video_index)
  return {
      "level": "video",
      "video_auc": metrics.auc(vlabels, vscores),
      "video_eer": metrics.eer_nearest(vlabels, vscores),
      "video_ap": metrics.average_precision(vlabels, vscores),
      "video_acc": _acc(vlabels, vscores),
      "n_videos": int(vscores.size)
  }
