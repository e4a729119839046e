"""Fake segments (start, end in seconds) <-> per-frame labels; validation of dataset segments.

Pure numpy, so dataset builders and the input pipeline share one definition.

Convention: frame t is shown from its timestamp until the next frame's (frame t of a constant
rate covers [t / fps, (t + 1) / fps)); it is fake when its centre lies in a segment, segments
being half-open [start, end). A segment shorter than a frame can thus miss every frame, and
a frame is fake by at most half a frame's worth of real time on each side. (The avdeepfake1m
SDK's own training labels mark frames int(start * fps) .. int(end * fps) - 1, i.e. by the
frame's start, not its centre: up to one frame earlier at each end.)
Times are seconds from the first video frame, as the media encoder's `timestamps`. A frame
centre within TIME_EPSILON of a segment boundary counts as on it: times pass through float32
(stored timestamps), and 12 * 0.04 + 0.02 must still equal a boundary at 0.5 s.
"""
import numpy as np

# How far past the video's end a segment may reach and still be clipped to it: LAV-DF has
# periods a few ms past `duration` (its timing comes from the audio track).
END_TOLERANCE = 0.1
TIME_EPSILON = 1e-4  # seconds; float32 resolves 0.1 ms up to ~13 minutes


class SegmentError(ValueError):
  """A segment list that cannot describe the video; the message names the file."""


def as_segments(segments):
  """float64 [N, 2] from a list of [start, end] pairs (None or [] -> [0, 2]); no validation
    beyond the shape (see check_segments)."""
  if segments is None:
    return np.zeros((0, 2))
  arr = np.asarray(segments, np.float64)
  if arr.size == 0:
    return np.zeros((0, 2))
  if arr.ndim != 2 or arr.shape[1] != 2:
    raise ValueError(f"segments must be [[start, end], ...] pairs, got shape {arr.shape}")
  return arr


def check_segments(segments, duration, file, tolerance=END_TOLERANCE):
  """Segments as float32 [N, 2], sorted by start, ends past `duration` by at most `tolerance`
    clipped to it. Raises SegmentError (one line naming `file`) for anything that is not a list
    of numeric [start, end] pairs, a non-finite or negative time, start >= end, or a segment
    ending more than `tolerance` past the end (or starting at or past it)."""
  try:
    arr = as_segments(segments)
  except (TypeError, ValueError):
    raise SegmentError(f"{file}: fake segments {_short(segments)} are not [[start_s, end_s], "
                       "...] pairs of numbers") from None
  for start, end in arr:
    where = f"{file}: fake segment [{start:.3f}, {end:.3f}] s"
    if not (np.isfinite(start) and np.isfinite(end)):
      raise SegmentError(f"{where} is not finite; expected times in seconds")
    if start < 0:
      raise SegmentError(f"{where} starts before the video; expected start >= 0")
    if start >= end:
      raise SegmentError(f"{where} is empty or reversed; expected start < end")
    if end > duration + tolerance or start >= duration:
      raise SegmentError(f"{where} lies past the video's end ({duration:.3f} s) by "
                         f"{end - duration:.3f} s; expected segments inside the video "
                         f"(tolerance {tolerance:g} s)")
  arr = arr[np.argsort(arr[:, 0], kind="stable")]
  arr[:, 1] = np.minimum(arr[:, 1], duration)
  return arr.astype(np.float32)


def _short(value, limit=60):
  text = repr(value)
  return text if len(text) <= limit else text[:limit - 3] + "..."


def frame_centres(timestamps=None, *, n_frames=None, fps=None):
  """float64 [T] centre time of each frame: halfway to the next frame's timestamp (the last
    frame lasts 1 / fps, or the median frame spacing without fps); or (t + 0.5) / fps for
    n_frames frames at a constant rate."""
  if timestamps is None:
    if n_frames is None or not fps:
      raise ValueError("frame_labels needs timestamps, or n_frames and fps")
    return (np.arange(int(n_frames)) + 0.5) / float(fps)
  ts = np.asarray(timestamps, np.float64).reshape(-1)
  if len(ts) == 0:
    return ts
  if fps:
    last = 1.0 / float(fps)
  elif len(ts) > 1:
    last = float(np.median(np.diff(ts)))
  else:
    raise ValueError("frame_labels: one timestamp and no fps: the frame's length is unknown")
  ends = np.append(ts[1:], ts[-1] + last)
  return (ts + ends) / 2


def frame_labels(segments, timestamps=None, *, n_frames=None, fps=None):
  """int8 [T]: 1 where the frame's centre (frame_centres) lies in a segment [start, end)."""
  centres = frame_centres(timestamps, n_frames=n_frames, fps=fps)
  arr = as_segments(segments)
  c = centres[:, None]
  inside = (c >= arr[None, :, 0] - TIME_EPSILON) & (c < arr[None, :, 1] - TIME_EPSILON)
  return inside.any(1).astype(np.int8)


def segments_from_labels(labels, timestamps=None, *, fps=None):
  """float32 [N, 2]: the runs of fake frames (labels > 0) as segments, each from the first fake
    frame's timestamp to the end of the last one (the next frame's timestamp, or + 1 / fps):
    frame_labels of the result gives `labels` back. Timestamps default to t / fps."""
  lab = np.asarray(labels).reshape(-1) > 0
  if timestamps is None:
    if not fps:
      raise ValueError("segments_from_labels needs timestamps or fps")
    timestamps = np.arange(len(lab)) / float(fps)
  ts = np.asarray(timestamps, np.float64).reshape(-1)
  if not lab.any():
    return np.zeros((0, 2), np.float32)
  if fps:
    last = 1.0 / float(fps)
  else:
    last = float(np.median(np.diff(ts))) if len(ts) > 1 else 0.0
  ends = np.append(ts[1:], ts[-1] + last)
  edges = np.diff(np.concatenate([[0], lab.astype(np.int8), [0]]))
  starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
  return np.stack([ts[starts], ends[stops]], 1).astype(np.float32)


def union(*segment_lists):
  """float32 [N, 2]: the union of segment lists, overlapping or touching segments merged."""
  arrs = [as_segments(s) for s in segment_lists]
  arr = np.concatenate(arrs) if arrs else np.zeros((0, 2))
  if not len(arr):
    return np.zeros((0, 2), np.float32)
  arr = arr[np.argsort(arr[:, 0], kind="stable")]
  out = [list(arr[0])]
  for start, end in arr[1:]:
    if start <= out[-1][1]:
      out[-1][1] = max(out[-1][1], end)
    else:
      out.append([start, end])
  return np.asarray(out, np.float32)
