"""Face detection behind a small interface, and the choice of one face track per video.

A detector is any object with `detect(rgb) -> list[Detection]` and `close()`; register a
factory under a name in DETECTORS to make it selectable by MediaConfig.detector. A detector
with a true `reusable` attribute promises that `detect` does not depend on earlier calls: the
encoder then keeps it for the next video instead of building a new one.
mediapipe is imported only when a mediapipe detector is built, and without TensorFlow (see
`import_mediapipe`).
"""
import dataclasses
import importlib.abc
import sys
import warnings
from typing import Callable, Dict, List, Optional

import numpy as np


@dataclasses.dataclass(eq=False)  # identity: detections are looked up in lists
class Detection:
  box: np.ndarray  # float32 [4] x0, y0, x1, y1 in the given image's pixels
  score: float
  eyes: Optional[np.ndarray] = None  # float32 [2, 2]: (x, y) of the subject's right, left eye

  def scaled(self, s):
    return Detection(self.box / s, self.score, None if self.eyes is None else self.eyes / s)


class MediaPipeDetector:
  """BlazeFace as bundled with mediapipe 0.10.14 (no download).

    model_selection 1 is the full-range model (faces up to ~5 m, 192 px input), 0 the
    short-range one (selfie distance, 128 px input).
    """
  reusable = True  # the graph runs each image on its own: no state between calls

  def __init__(self, model_selection=1, min_score=0.5):
    import_mediapipe()
    from mediapipe.python.solutions import face_detection
    self._fd = face_detection.FaceDetection(
        model_selection=model_selection, min_detection_confidence=min_score)

  def detect(self, rgb):
    h, w = rgb.shape[:2]
    res = self._fd.process(rgb)
    out = []
    for d in res.detections or ():
      bb = d.location_data.relative_bounding_box
      box = np.array(
          [bb.xmin * w, bb.ymin * h, (bb.xmin + bb.width) * w,
           (bb.ymin + bb.height) * h], np.float32)
      kp = d.location_data.relative_keypoints
      eyes = (
          np.array([[kp[0].x * w, kp[0].y * h], [kp[1].x * w, kp[1].y *
                                                 h]], np.float32) if len(kp) >= 2 else None)
      out.append(Detection(box, float(d.score[0]), eyes))
    return out

  def close(self):
    self._fd.close()


class DlibDetector:
  """dlib's frontal face detector (HOG + linear SVM; in the dlib-bin wheel, no model file), as
    DeepfakeBench's preprocessing calls it: `detector(rgb, 1)`, the image upsampled once (faces
    down to ~40 px), detection threshold 0. The score is the SVM margin (>= 0), not a
    probability: min_score is ignored."""
  reusable = True  # no state between images

  def __init__(self, upsample=1):
    import dlib  # lazy: only the deepfakebench protocol needs it
    self._detector = dlib.get_frontal_face_detector()
    self._upsample = upsample

  def detect(self, rgb):
    rects, scores, _ = self._detector.run(np.ascontiguousarray(rgb), self._upsample, 0.0)
    # dlib's right and bottom are inclusive pixel indices: +1 gives the continuous box edge.
    box = lambda r: np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], np.float32)
    return [Detection(box(r), float(s)) for r, s in zip(rects, scores)]

  def close(self):
    pass


def largest(detections):
  """The detection of largest box area (the first of equals, in the detector's order), as
    DeepfakeBench keeps one face per frame; None for none."""
  area = lambda d: float((d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
  return max(detections, key=area) if detections else None


def quiet_mediapipe():
  # mediapipe 0.10.14 calls a protobuf API deprecated in protobuf 4: harmless, and it would
  # otherwise warn on every graph run.
  warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype", category=UserWarning)


# mediapipe's package __init__ imports mediapipe.tasks, whose optional_dependencies module runs
# `from tensorflow.tools.docs import doc_controls` (for its API docs only) and falls back to a
# no-op when TensorFlow is missing. With TensorFlow installed that one line imports all of it:
# 9 s and 830 MB of a 1 GB peak per process that encodes videos. Only that import is refused,
# and only while mediapipe is first imported and TensorFlow is not loaded yet; TensorFlow stays
# importable as usual afterwards.
_TF_DOCS_IMPORTER = "mediapipe.tasks.python.core.optional_dependencies"


class _NoTensorFlowForMediapipeDocs(importlib.abc.MetaPathFinder):

  def find_spec(self, name, path=None, target=None):
    if name.partition(".")[0] != "tensorflow":
      return None
    frame = sys._getframe(1)
    for _ in range(40):  # the import machinery's own frames sit between
      if frame is None:
        break
      if frame.f_globals.get("__name__") == _TF_DOCS_IMPORTER:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
      frame = frame.f_back
    return None


def import_mediapipe():
  """Import mediapipe (lazily: a heavy import) without TensorFlow; quiet its warnings."""
  quiet_mediapipe()
  if "mediapipe" not in sys.modules and "tensorflow" not in sys.modules:
    finder = _NoTensorFlowForMediapipeDocs()
    sys.meta_path.insert(0, finder)
    try:
      import mediapipe  # noqa: F401
    finally:
      sys.meta_path.remove(finder)


DETECTORS: Dict[str, Callable[..., object]] = {
    "mediapipe_full": lambda min_score: MediaPipeDetector(1, min_score),
    "mediapipe_short": lambda min_score: MediaPipeDetector(0, min_score),
    "dlib": lambda min_score: DlibDetector(),
}


def make_detector(name, min_score=0.5):
  try:
    factory = DETECTORS[name]
  except KeyError:
    raise ValueError(f"unknown face detector {name!r}; known: {sorted(DETECTORS)}") from None
  return factory(min_score)


def iou(a, b):
  ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
  iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
  inter = ix * iy
  union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
  return inter / union if union > 0 else 0.0


def _link_cost(a, b, dt):
  """How far box b is from box a, in face sizes; None when it cannot be the same face.

    Sampled frames can be seconds apart, so the allowed move grows with the time gap
    (about two face sizes a second); size may change at most 2x.
    """
  sa, sb = a[2] - a[0], b[2] - b[0]
  if not (0.5 < sb / max(sa, 1e-6) < 2.0):
    return None
  dist = float(np.linalg.norm((a[:2] + a[2:]) / 2 - (b[:2] + b[2:]) / 2)) / max(sa, sb)
  return dist if dist < 1.0 + 2.0 * abs(dt) else None


def choose_track(dets_per_frame: List[List[Detection]], times):
  """Link detections across sampled frames; return the chosen detection per frame (or None).

    The chosen track maximises the summed box area over frames: the largest face that is
    present most of the time, not a big face flashing by once.
    """
  tracks = []  # each: {frame: Detection}
  for t, dets in enumerate(dets_per_frame):
    taken = set()
    for d in sorted(dets, key=lambda d: -d.score):
      best, best_cost = None, None
      for k, tr in enumerate(tracks):
        last_t = max(tr)
        if k in taken or last_t >= t:
          continue
        cost = _link_cost(tr[last_t].box, d.box, times[t] - times[last_t])
        if cost is not None and (best is None or cost < best_cost):
          best, best_cost = k, cost
      if best is None:
        tracks.append({t: d})
        best = len(tracks) - 1
      else:
        tracks[best][t] = d
      taken.add(best)
  if not tracks:
    return [None] * len(dets_per_frame)
  area = lambda d: float((d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
  best = max(tracks, key=lambda tr: sum(area(d) for d in tr.values()))
  return [best.get(t) for t in range(len(dets_per_frame))]


def smooth_series(values, times, found, sigma):
  """Smooth values [T, D] over time using the frames where `found`; fill the others.

    Each found frame gets a local linear fit in time, Gaussian-weighted (sigma seconds), over
    the found frames: jitter is averaged out but steady motion and zoom are kept, also at the
    ends of the sequence, where a plain moving average would lag. Samples far apart in time get
    almost no weight from each other. Frames not found take the previous found frame's value
    (the next one before the first detection): the "carry the last box" behaviour.
    """
  values = np.asarray(values, np.float64)
  out = np.full_like(values, np.nan)
  idx = np.flatnonzero(found)
  if not len(idx):
    return out
  times = np.asarray(times, np.float64)
  y = values[idx]
  if sigma > 0 and len(idx) > 1:
    dt = times[idx][None, :] - times[idx][:, None]  # [i, j]: t_j - t_i
    w = np.exp(-0.5 * (dt / sigma)**2)
    s0, s1, s2 = w.sum(1), (w * dt).sum(1), (w * dt * dt).sum(1)
    t0, t1 = w @ y, (w * dt) @ y
    det = s0 * s2 - s1 * s1
    # A fit needs spread in time; with (almost) one effective sample use the weighted mean.
    ok = det > 1e-3 * np.maximum(s0 * s2, 1e-12)
    fit = (s2[:, None] * t0 - s1[:, None] * t1) / np.where(ok, det, 1.0)[:, None]
    out[idx] = np.where(ok[:, None], fit, t0 / s0[:, None])
  else:
    out[idx] = y
  prev = np.maximum.accumulate(np.where(found, np.arange(len(found)), -1))
  for t in np.flatnonzero(~np.asarray(found)):
    out[t] = out[prev[t]] if prev[t] >= 0 else out[idx[0]]
  return out
