"""The one example encoder every dataset builder shares: video file -> dict of numpy arrays.

One decoding pass; per sampled frame: detect faces on a downscaled copy, keep patches. Then,
over the whole sampled sequence: choose the face track, smooth boxes in time, crop, run the
face mesh on the crops, smooth the mouth, crop it; then the audio. With the deepfakebench
protocol (MediaConfig.protocol) dlib finds the faces on the full frame and each frame is
aligned on its own by five key points of the mesh (align.py) instead of the box track. Times
are seconds since the first video frame. Example keys, shapes and dtypes (T = cfg.num_frames,
S = cfg.face_size, M = cfg.mouth_size, W = cfg.audio_window, B = cfg.n_mels) are listed in
`example_spec`.
"""
import atexit
import collections
import dataclasses
import os
import sys
import threading
import warnings
from concurrent import futures
from typing import Dict, List

import numpy as np

from fakedetect_jax.media import audio, crop, decode, errors, faces, landmarks, tracks
from fakedetect_jax.media.config import MediaConfig


def example_spec(cfg: MediaConfig) -> Dict[str, tuple]:
  """key -> (shape, numpy dtype) of every array `encode_video` returns."""
  t, s, m, w, b = cfg.num_frames, cfg.face_size, cfg.mouth_size, cfg.audio_window, cfg.n_mels
  return {
      "frames": ((t, s, s, 3), np.uint8),  # face crops, RGB
      "mouth": ((t, m, m), np.uint8),  # mouth crops, grayscale
      "audio": ((t, w, b), np.float32),  # log-mel window centred on each frame
      "audio_valid": ((t, w), np.bool_),  # False where the window leaves the track
      "timestamps": ((t,), np.float32),  # seconds since the first video frame
      "frame_indices": ((t,), np.int32),  # source frame, 0-based, presentation order
      "face_found": ((t,), np.bool_),  # detector found the tracked face here
      "face_scores": ((t,), np.float32),  # detector score, 0 where not found
      "boxes": ((t, 4), np.float32),  # smoothed face box x0,y0,x1,y1 (source px
      # of the upright frame; deepfakebench: dlib's
      # box as found); carried where not found, NaN
      # when nothing to carry / "mark"
      "mouth_found": ((t,), np.bool_),  # face mesh found the face in this crop
      "mouth_boxes": ((t, 4), np.float32),  # mouth crop square (before rotation), src px
      "eye_aspect_ratio": ((t,), np.float32),  # blink signal; 0 where mouth_found is False
      # landmarks.FACE_POINTS (81-point dlib layout) from the face mesh, (x, y) in the face
      # crop's continuous pixel coordinates (pixel i spans [i, i+1)); NaN where the mesh did
      # not run or found no face (carried and marked frames too)
      "face_landmarks": ((t, landmarks.NUM_POINTS, 2), np.float16),
      "has_audio": ((), np.bool_),
      "padded": ((), np.bool_),  # frames repeat: short video or "skip"
      "fps": ((), np.float32),
      "duration": ((), np.float32),
      "num_source_frames": ((), np.int32),
      "source_size": ((2,), np.int32),  # height, width of the upright frame
  }


@dataclasses.dataclass
class Report:
  path: str
  warnings: List[str] = dataclasses.field(default_factory=list)
  counts: Dict[str, int] = dataclasses.field(default_factory=dict)
  info: object = None
  audio_seconds: float = 0.0  # length of the decoded audio track, 0 without audio


@dataclasses.dataclass
class _Frame:  # one decoded, sampled source frame
  slots: List[int]  # positions in the example this frame fills
  index: int
  time: float
  dets: list  # faces.Detection in source coordinates
  patches: list  # crop.Patch around each detection
  mouths: list  # per detection: (cx, cy, width, angle, ear, points) from the mesh, or None;
  # points: landmarks.FACE_POINTS in source coordinates
  fallback: crop.Patch  # the whole frame, small, for crops with a carried box


def encode_video(path, cfg: MediaConfig = MediaConfig()):
  """Encode one video; recoverable problems become MediaWarning warnings."""
  ex, report = encode_video_with_report(path, cfg)
  for msg in report.warnings:
    warnings.warn(f"{report.path}: {msg}", errors.MediaWarning, stacklevel=2)
  return ex


def encode_video_with_report(path, cfg: MediaConfig = MediaConfig()):
  """Returns (example dict, Report). Raises MediaError subclasses for unreadable files."""
  with decode.Video(path) as video:
    info = video.info
    report = Report(path=info.path, info=info)
    indices, padded = decode.sample_indices(info.num_frames, cfg)
    if padded:
      report.warnings.append(f"only {info.num_frames} frames for {cfg.num_frames} "
                             "samples: frames repeat")
    stats = decode.DecodeStats()
    collect = None
    if cfg.audio and info.has_audio:
      collect = audio.Collector(video.container.streams.audio[0], cfg.sample_rate, info.start_time)
    recs = _analyse_pass(video, indices, cfg, stats, collect)
  _decode_warnings(info, stats, report)

  t = cfg.num_frames
  slot_rec = np.zeros(t, np.int64)
  for u, r in enumerate(recs):
    slot_rec[r.slots] = u
  times = np.array([r.time for r in recs])
  face = tracks.faces_over_time(recs, times, cfg, report)
  mouth = tracks.mouths_over_time(face, times, cfg, report)

  if cfg.no_face == "skip" and face["found"].any() and not face["found"].all():
    keep = np.flatnonzero(face["found"][slot_rec])
    slot_rec = slot_rec[keep[np.floor(np.arange(t) * len(keep) / t).astype(np.int64)]]
    padded = True

  ex = {
      "frames": face["crops"][slot_rec],
      "mouth": mouth["crops"][slot_rec],
      "timestamps": times[slot_rec].astype(np.float32),
      "frame_indices": np.array([recs[u].index for u in slot_rec], np.int32),
      "face_found": face["found"][slot_rec],
      "face_scores": face["scores"][slot_rec],
      "boxes": face["boxes"][slot_rec],
      "mouth_found": mouth["found"][slot_rec],
      "face_landmarks": face["landmarks"][slot_rec],
      "mouth_boxes": mouth["boxes"][slot_rec],
      "eye_aspect_ratio": mouth["ear"][slot_rec],
      "padded": np.bool_(padded),
      "fps": np.float32(info.fps),
      "duration": np.float32(info.duration),
      "num_source_frames": np.int32(info.num_frames),
      "source_size": np.array([info.height, info.width], np.int32),
  }
  ex["audio"], ex["audio_valid"], has_audio = _audio(collect, info, ex["timestamps"], cfg, report)
  ex["has_audio"] = np.bool_(has_audio)
  return ex, report


def _analyse_pass(video, indices, cfg, stats, collect):
  """Decode; per sampled frame detect faces, keep patches, run the mesh on each face.

    Decoding (this thread), face detection (one helper thread) and the face mesh (another)
    form a pipeline: frame i is decoded while frame i-1 is in the detector and frame i-2 in
    the mesh. mediapipe releases the GIL while its graphs run, so the three overlap on two
    cores; with detection and mesh on one thread their ~8 ms a frame in series was the
    critical path at 480p. The mesh thread takes frames in order, as its tracking needs.
    PyAV's decode holds the GIL, so the switch interval is shortened for the pass to hand it
    back to mediapipe's result callbacks promptly. On a busy machine (a full process pool)
    this saves nothing, but it never costs CPU time.
    """
  info = video.info
  key, (detector, mesh) = _MODELS.take(cfg)
  ok = False
  pending = collections.deque()
  recs = []
  old_interval = sys.getswitchinterval()
  sys.setswitchinterval(min(old_interval, 0.0005))
  try:
    with futures.ThreadPoolExecutor(1, thread_name_prefix="faces") as det_pool, \
            futures.ThreadPoolExecutor(1, thread_name_prefix="mesh") as mesh_pool:
      for slots, index, seconds, frame in video.frames(indices, stats, on_audio=collect):
        # Only the detector's small copy is converted here; the face patches are
        # converted from the frame once the detector has said where the faces are
        # (the frame keeps its own decoded planes while decoding goes on).
        # DeepfakeBench runs dlib on the whole frame at its own resolution.
        small = decode.to_rgb(frame, info.rotation,
                              None if cfg.deepfakebench else cfg.detect_max_side)
        rec = _Frame(slots, index, seconds, [], [], [], None)
        done = det_pool.submit(_analyse_frame, rec, frame, info.rotation, small, detector, cfg)
        if mesh:
          done = mesh_pool.submit(_mesh_frame, done, mesh, cfg)
        pending.append(done)
        while len(pending) > 4:  # bound the full frames held in memory
          recs.append(pending.popleft().result())
      recs.extend(f.result() for f in pending)
    ok = True
  finally:
    sys.setswitchinterval(old_interval)
    _MODELS.give_back(key, detector, mesh, reuse=ok)
  return recs


class _ModelPool:
  """Face detector and face mesh graphs kept by the process for its next videos.

    Building and closing both mediapipe graphs costs ~10-20 ms a video, 5-10% of decoding a
    10 s 480p clip. A pair is lent to one encoding at a time (threads encoding in parallel
    get their own); the mesh is reset before reuse, so each video starts with no tracked face,
    exactly as with new graphs. After an error the pair is closed, not kept: a failed graph
    may be in a bad state. A forked child never uses its parent's graphs (their threads did
    not come along).
    """

  MAX_IDLE = 2  # per configuration; more are closed when given back

  def __init__(self):
    self._lock = threading.Lock()
    self._idle = collections.defaultdict(list)
    self._pid = os.getpid()
    self._orphans = []  # a forked parent's graphs: never run, closed or destroyed here

  def _drop_if_forked(self):
    # In a forked child the idle graphs are the parent's: running or closing them would
    # hang (their threads did not come along), so they are set aside untouched.
    if self._pid != os.getpid():
      self._orphans.append(self._idle)
      self._idle, self._pid = collections.defaultdict(list), os.getpid()

  def take(self, cfg):
    key = (detector_name(cfg), cfg.min_face_score, cfg.runs_mesh)
    with self._lock:
      self._drop_if_forked()
      pair = self._idle[key].pop() if self._idle[key] else None
    if pair is not None:
      try:
        if pair[1] is not None:
          pair[1].reset()
      except BaseException:
        self.give_back(key, *pair, reuse=False)
        raise
      return key, pair
    detector = faces.make_detector(key[0], cfg.min_face_score)
    try:
      mesh = landmarks.FaceMesh() if cfg.runs_mesh else None
    except BaseException:
      detector.close()
      raise
    return key, (detector, mesh)

  def give_back(self, key, detector, mesh, reuse=True):
    if reuse and getattr(detector, "reusable", False):
      with self._lock:
        if self._pid == os.getpid() and len(self._idle[key]) < self.MAX_IDLE:
          self._idle[key].append((detector, mesh))
          return
    detector.close()
    if mesh:
      mesh.close()

  def close(self):
    """Close the idle graphs (at exit: before the interpreter tears mediapipe down)."""
    with self._lock:
      self._drop_if_forked()
      pairs = [p for ps in self._idle.values() for p in ps]
      self._idle.clear()
    for detector, mesh in pairs:
      detector.close()
      if mesh:
        mesh.close()


_MODELS = _ModelPool()
atexit.register(_MODELS.close)


def detector_name(cfg):
  return "dlib" if cfg.deepfakebench else cfg.detector


def _face_square(d, cfg):
  """(centre, side) of the square around a detection that patches and the mesh crop use."""
  centre = (d.box[:2] + d.box[2:]) / 2
  return centre, cfg.face_scale * max(d.box[2] - d.box[0], d.box[3] - d.box[1])


def _analyse_frame(rec, frame, rotation, small, detector, cfg):
  """Detection stage: faces, a patch around each (mouths stay None for the mesh stage)."""
  width, height = decode.upright_size(frame, rotation)
  s = small.shape[1] / width
  dets = [d.scaled(s) for d in detector.detect(small)]
  margin = 2.0
  if cfg.deepfakebench:  # one face a frame: the largest; `small` is the full frame here
    dets = [faces.largest(dets)] if dets else []
    margin = 3.0  # the aligned crop reaches ~1.2 box widths above the box centre
    small, s = crop.downscale(small, cfg.detect_max_side)  # kept as the fallback only
  rec.fallback = crop.Patch(small if s < 1 else small.copy(), 0.0, 0.0, s)
  for d in dets:
    centre, side = _face_square(d, cfg)
    bounds = crop.patch_bounds(width, height, centre, side, margin)
    if bounds is None:
      continue
    region = decode.rgb_region(frame, rotation, *bounds)
    patch = crop.patch_from_region(region, bounds[0], bounds[1], side, cfg.face_size)
    rec.dets.append(d)
    rec.patches.append(patch)
    rec.mouths.append(None)
  return rec


def _mesh_frame(detected, mesh, cfg):
  """Mesh stage: waits for the frame's detection stage, then runs the mesh on each face."""
  rec = detected.result()
  for k, (d, patch) in enumerate(zip(rec.dets, rec.patches)):
    rec.mouths[k] = _mesh(mesh, patch, *_face_square(d, cfg))
  return rec


_MESH_SIZE = 192  # the face mesh model's own input size: a bigger crop only costs resizing


def _mesh(mesh, patch, centre, side):
  # The mesh runs on a crop of this frame's raw box; landmarks go back to source
  # coordinates, so smoothing later moves the mouth crop without running the mesh again.
  img = crop.warp(patch, centre, side, 0.0, _MESH_SIZE)
  pts = mesh.landmarks(img)
  if pts is None:
    return None
  src = crop.crop_to_source(pts, centre, side, 0.0, _MESH_SIZE)
  (cx, cy), width, angle = landmarks.mouth_geometry(src)
  points = src[list(landmarks.FACE_POINTS)].astype(np.float32)
  return cx, cy, width, angle, landmarks.eye_aspect_ratio(pts), points


def _decode_warnings(info, stats, report):
  report.counts.update(
      decode_errors=stats.decode_errors,
      corrupt_frames=stats.corrupt_frames,
      missing_frames=stats.missing)
  if stats.missing:
    report.warnings.append(f"{stats.missing} sampled frames could not be decoded (corrupt "
                           "or truncated) and were replaced by a neighbouring decodable frame")
  if stats.decode_errors or stats.corrupt_frames:
    report.warnings.append(f"{stats.decode_errors} packets failed to decode, "
                           f"{stats.corrupt_frames} frames flagged corrupt")
  if info.declared_frames > info.num_frames:
    report.warnings.append(f"file is cut short: {info.num_frames} of "
                           f"{info.declared_frames} indexed frames present")
    report.counts["truncated"] = 1
  if stats.truncated:
    report.warnings.append(f"video ends early: last decodable frame {stats.decoded_to} of "
                           f"{info.num_frames}")


def _audio(collect, info, times, cfg, report):
  t = cfg.num_frames
  if collect is None:
    return (*audio.empty(t, cfg), False)
  try:
    track = collect.track(info.path)
  except errors.MediaError as e:
    report.warnings.append(f"audio unreadable, treated as absent ({e.detail or e})")
    report.counts["audio_unreadable"] = 1
    return (*audio.empty(t, cfg), False)
  if collect.bad:
    report.warnings.append(f"{collect.bad} audio packets failed to decode")
  report.audio_seconds = len(track.samples) / track.sample_rate
  win, valid = audio.mel_windows(track.samples, track.start, times, cfg)
  return win, valid, True
