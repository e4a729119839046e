"""Eye-blink cue: blink rate and eye-aspect-ratio statistics from the face-mesh eye landmarks.

Early face swaps blinked too rarely (Li et al. 2018, "In Ictu Oculi"): a person blinks every
2-10 s, and the EAR series (eye height over width, from `media.landmarks`) dips below ~0.2 for
100-400 ms at each blink. Features per video: blinks per second, mean, std and minimum EAR over
frames with a face. A video without a face gets NaNs, which the fusion masks.
"""
import numpy as np

FEATURES = ("blink_rate", "ear_mean", "ear_std", "ear_min")


def count_blinks(ear, threshold=0.2, min_frames=1):
  """Number of runs of at least `min_frames` consecutive frames with EAR below threshold."""
  closed = np.concatenate([[False], np.asarray(ear) < threshold, [False]])
  starts = np.flatnonzero(~closed[:-1] & closed[1:])
  ends = np.flatnonzero(closed[:-1] & ~closed[1:])
  return int(np.sum(ends - starts >= min_frames))


def blink_features(ear, timestamps, face_found=None, threshold=0.2):
  """[N, 4] features (FEATURES) from ear [N,T], timestamps [N,T] seconds, face_found [N,T].

  The rate is only meaningful on consecutive frames (sampling='clips' or 'stride'); on frames
  spread over a video a blink falls between samples, and the EAR statistics carry the cue.
  """
  ear, timestamps = np.asarray(ear, np.float64), np.asarray(timestamps, np.float64)
  found = np.ones(ear.shape, bool) if face_found is None else np.asarray(face_found, bool)
  out = np.full((ear.shape[0], len(FEATURES)), np.nan)
  for i in range(ear.shape[0]):
    e, t = ear[i][found[i]], timestamps[i][found[i]]
    if e.size == 0:
      continue
    span = max(t.max() - t.min(), 1e-3) if e.size > 1 else 1.0
    out[i] = (count_blinks(e, threshold) / span, e.mean(), e.std(), e.min())
  return out
