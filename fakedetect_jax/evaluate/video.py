"""From frame scores to one score per video."""
import numpy as np

from fakedetect_jax.errors import ConfigError


def _confident_mean(p, high=0.8, low=0.2, high_share=0.4, low_share=0.9):
  # A few confidently fake frames outweigh many unsure ones: face swaps often fail only on
  # some frames (pose, occlusion), while a real video should look real almost everywhere.
  fake_frames, real_frames = p[p > high], p[p < low]
  if fake_frames.size > high_share * p.size:
    return fake_frames.mean()
  if real_frames.size > low_share * p.size:
    return real_frames.mean()
  return p.mean()


AGGREGATORS = {"mean": np.mean, "max": np.max, "confident": _confident_mean}


def video_scores(frame_scores, video_index, strategy="mean"):
  """Scores per video from per-frame fake probabilities.

  Args:
    frame_scores: [N] fake probabilities.
    video_index: [N] integer id of the video each frame came from.
    strategy: one of AGGREGATORS.
  Returns:
    (videos, scores): the sorted unique video ids and one score each.
  """
  if strategy not in AGGREGATORS:
    raise ConfigError(f"unknown video score strategy {strategy!r}; known: {sorted(AGGREGATORS)}")
  frame_scores = np.asarray(frame_scores, np.float64)
  video_index = np.asarray(video_index)
  videos, inverse = np.unique(video_index, return_inverse=True)
  order = np.argsort(inverse, kind="stable")
  bounds = np.flatnonzero(np.diff(inverse[order])) + 1
  groups = np.split(frame_scores[order], bounds)
  aggregate = AGGREGATORS[strategy]
  return videos, np.array([aggregate(g) for g in groups])
