"""DeepfakeBench's test metrics computed with scikit-learn the way their evaluation does it
(SCLBD/DeepfakeBench, training/metrics/utils.py, get_test_metrics): the reference our
evaluate/deepfakebench.py block is checked against. Written from that file's formulas.
"""
import numpy as np
from sklearn import metrics as skm


def nearest_eer(fpr, tpr):
  """Their EER: the fpr of the ROC point where |fnr - fpr| is smallest."""
  return fpr[np.nanargmin(np.absolute((1 - tpr) - fpr))]


def frame_metrics(y_pred, y_true, img_names):
  """{'auc', 'eer', 'ap', 'acc', 'video_auc'} of frame scores, with frames grouped into videos by
  the name of the folder each frame path is in."""
  y_pred = np.asarray(y_pred, np.float64).squeeze()
  y_true = np.asarray(y_true).copy()
  y_true[y_true >= 1] = 1
  fpr, tpr, _ = skm.roc_curve(y_true, y_pred, pos_label=1)  # drop_intermediate: their default
  acc = ((y_pred > 0.5).astype(int) == np.clip(y_true, 0, 1)).sum().item() / len(y_pred)
  videos = {}
  for name, p, t in zip(img_names, y_pred, y_true):
    folder = name.replace("\\", "/").split("/")[-2]
    videos.setdefault(folder, []).append((float(p), int(t)))
  v_pred = [sum(p for p, _ in v) / len(v) for v in videos.values()]
  v_true = [int(sum(t for _, t in v) / len(v)) for v in videos.values()]
  v_fpr, v_tpr, _ = skm.roc_curve(v_true, v_pred)
  return {
      "auc": skm.auc(fpr, tpr),
      "eer": nearest_eer(fpr, tpr),
      "ap": skm.average_precision_score(y_true, y_pred),
      "acc": acc,
      "video_auc": skm.auc(v_fpr, v_tpr),
      "n_videos": len(videos)
  }


def video_metrics(y_pred, y_true):
  """Their metrics of a video-level detector: one score per video, video AUC = AUC."""
  y_pred = np.asarray(y_pred, np.float64)
  y_true = np.asarray(y_true)
  fpr, tpr, _ = skm.roc_curve(y_true, y_pred)
  return {
      "auc": skm.auc(fpr, tpr),
      "eer": nearest_eer(fpr, tpr),
      "ap": skm.average_precision_score(y_true, y_pred),
      "acc": float(np.mean((y_pred > 0.5).astype(int) == y_true))
  }


def frame_paths(video_ids, video_index):
  """DeepfakeBench-style frame paths (<dataset dirs>/frames/<video name>/<k>.png) of the rows of
  videos with ids like 'manipulated_sequences/Deepfakes/c23/videos/000_003.mp4'."""
  out, seen = [], {}
  for v in np.asarray(video_index):
    vid = str(video_ids[v])
    parent, _, base = vid.rpartition("/")
    k = seen.get(v, 0)
    seen[v] = k + 1
    out.append(f"{parent}/frames/{base.rsplit('.', 1)[0]}/{k:03d}.png")
  return out
