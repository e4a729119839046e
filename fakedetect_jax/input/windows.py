"""Windows over long videos (the `segments` view) and stitching their outputs back.

A localization video holds every frame (the dense media setting: minutes at 25 fps), more than
one model input can. The `segments` view cuts it into windows of data.window consecutive frames
that start every data.window_stride frames; the last window is moved back to end on the last
frame, so every frame is in at least one window and no window runs past the video (only a
video shorter than one window is padded, and its padding is marked invalid). Evaluation and
predict run the model on every window and `stitch` the per-frame outputs back into one array
per video: a weighted mean over the windows that hold a frame, each window's weight falling
towards its edges (a frame near a window's edge has seen little of its context, and a segment
cut by the edge has its start or end distance measured to the edge, not to the segment's real
boundary), never to zero, so frames at the video's own ends keep their only window.

Pure numpy: input/views.py cuts the windows, evaluation (train/localize_eval.py) stitches.
"""
import numpy as np

from fakedetect_jax.errors import DataError

# Weight of a window's outermost frame relative to its centre (stitch).
EDGE_WEIGHT = 0.1


def check(window, stride):
  if window < 1 or not 1 <= stride <= window:
    raise DataError(f"data.window {window} and data.window_stride {stride}: expected "
                    f"window >= 1 and 1 <= stride <= window (windows must cover every frame)")


def starts(num_frames, window, stride):
  """First frame of every window of a num_frames video: 0, stride, 2 stride, ... and a last
  window ending on the last frame (int64 [K], increasing, K >= 1)."""
  check(window, stride)
  n = int(num_frames)
  if n <= window:
    return np.zeros(1, np.int64)
  out = list(range(0, n - window + 1, stride))
  if out[-1] != n - window:
    out.append(n - window)
  return np.asarray(out, np.int64)


def num_windows(num_frames, window, stride):
  return len(starts(num_frames, window, stride))


def span(num_frames, window, stride, k):
  """(start, valid frames) of window k: frames start .. start + valid - 1 are the video's, the
  rest of the window (a video shorter than one window) is padding."""
  first = starts(num_frames, window, stride)
  if not 0 <= k < len(first):
    raise DataError(f"window {k} of a {num_frames}-frame video: it has {len(first)} windows")
  start = int(first[k])
  return start, min(window, int(num_frames) - start)


def weights(window):
  """float64 [window]: a triangle peaking at the centre, EDGE_WEIGHT at both ends."""
  if window == 1:
    return np.ones(1)
  pos = np.arange(window) / (window - 1)  # first frame 0, last 1
  return EDGE_WEIGHT + (1 - EDGE_WEIGHT) * (1 - np.abs(2 * pos - 1))


def stitch(outputs, num_frames, window, stride):
  """Per-window outputs [K, window, ...] of one video (K = num_windows, in window order) ->
  [num_frames, ...]: each frame the weighted mean of its windows' outputs (`weights`).
  Outputs that agree where windows overlap come back exactly."""
  outputs = np.asarray(outputs)
  first = starts(num_frames, window, stride)
  if outputs.shape[:2] != (len(first), window):
    raise DataError(f"stitch: expected outputs [{len(first)}, {window}, ...] for a "
                    f"{num_frames}-frame video, got {list(outputs.shape)}")
  n = int(num_frames)
  w = weights(window).reshape((window,) + (1,) * (outputs.ndim - 2))
  total = np.zeros((n,) + outputs.shape[2:], np.float64)
  norm = np.zeros((n,) + (1,) * (outputs.ndim - 2), np.float64)
  for start, out in zip(first, outputs):
    valid = min(window, n - int(start))
    total[start:start + valid] += w[:valid] * out[:valid]
    norm[start:start + valid] += w[:valid]
  return total / norm
