"""The one example encoder every dataset builder shares: video file -> dict of numpy arrays.

One decoding pass; per sampled frame: detect faces on a downscaled copy, keep patches. Then,
over the whole sampled sequence: choose the face track, smooth boxes in time, crop, run the
face mesh on the crops, smooth the mouth, crop it; then the audio. With the deepfakebench
protocol (MediaConfig.protocol) dlib finds the faces on the full frame and each frame is
aligned on its own by five key points of the mesh (align.py) instead of the box track. Times
are seconds since the first video frame. Example keys, shapes and dtypes (T = cfg.num_frames,
S = cfg.face_size, M = cfg.mouth_size, W = cfg.audio_window, B = cfg.n_mels) are listed in
`example_spec`.

Dense sampling (cfg.sampling == "dense", `_encode_dense`) keeps every decodable frame, so T is
the video's own frame count, and streams: the detector and mesh run on anchor frames only (see
MediaConfig.detect_every) in a worker thread while decoding goes on, and every frame's crops are
cut straight from its decoded YUV planes once the anchors around it are known.
"""
import atexit
import collections
import dataclasses
import functools
import math
import os
import sys
import threading
import warnings
from concurrent import futures
from typing import Dict, List

import av
import cv2
import numpy as np

from fakedetect_jax.media import audio, crop, decode, errors, faces, landmarks, tracks
from fakedetect_jax.media.config import MediaConfig


def example_spec(cfg: MediaConfig) -> Dict[str, tuple]:
  """key -> (shape, numpy dtype) of every array `encode_video` returns; with dense sampling the
    time dimension T is None (each video has its own)."""
  t = None if cfg.is_dense else cfg.num_frames
  s, m, w, b = cfg.face_size, cfg.mouth_size, cfg.audio_window, cfg.n_mels
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
  if cfg.is_dense:
    return _encode_dense(path, cfg)
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


def _track(collect, info, report):
  """The collected audio track, or None (no audio, or unreadable: said in the report)."""
  if collect is None:
    return None
  try:
    track = collect.track(info.path)
  except errors.MediaError as e:
    report.warnings.append(f"audio unreadable, treated as absent ({e.detail or e})")
    report.counts["audio_unreadable"] = 1
    return None
  if collect.bad:
    report.warnings.append(f"{collect.bad} audio packets failed to decode")
  report.audio_seconds = len(track.samples) / track.sample_rate
  return track


def _audio(collect, info, times, cfg, report):
  track = _track(collect, info, report)
  if track is None:
    return (*audio.empty(cfg.num_frames, cfg), False)
  win, valid = audio.mel_windows(track.samples, track.start, times, cfg)
  return win, valid, True


# ------------------------------------------------------------------------------ dense sampling


def _encode_dense(path, cfg):
  """Every decodable frame: see the module docstring and MediaConfig.detect_every."""
  with decode.Video(path) as video:
    info = video.info
    report = Report(path=info.path, info=info)
    stats = decode.DecodeStats()
    collect = None
    if cfg.audio and info.has_audio:
      collect = audio.Collector(video.container.streams.audio[0], cfg.sample_rate, info.start_time)
    track = _dense_pass(video, cfg, stats, collect)
  out = track.out
  n = len(out["index"])
  if not n:
    raise errors.TruncatedVideoError(info.path, "no frame could be decoded")
  _dense_warnings(info, stats, track, n, report)
  if cfg.require_face and not track.faces_seen:
    raise errors.NoFaceError(info.path, f"none in {track.detections} detector runs over "
                             f"{n} frames")
  times = np.array(out["time"], np.float64)
  ex = {
      "frames": np.stack(out["frames"]),
      "mouth": np.stack(out["mouth"]),
      "timestamps": times.astype(np.float32),
      "frame_indices": np.array(out["index"], np.int32),
      "face_found": np.array(out["found"], bool),
      "face_scores": np.array(out["score"], np.float32),
      "boxes": np.array(out["box"], np.float32).reshape(n, 4),
      "mouth_found": np.array(out["mouth_found"], bool),
      "face_landmarks": np.stack(out["landmarks"]).astype(np.float16),
      "mouth_boxes": np.array(out["mouth_box"], np.float32).reshape(n, 4),
      "eye_aspect_ratio": np.array(out["ear"], np.float32),
      "padded": np.bool_(False),
      "fps": np.float32(info.fps),
      "duration": np.float32(info.duration),
      "num_source_frames": np.int32(info.num_frames),
      "source_size": np.array([info.height, info.width], np.int32),
  }
  ex["audio"], ex["audio_valid"], has_audio = _dense_audio(collect, info, times, cfg, report)
  ex["has_audio"] = np.bool_(has_audio)
  return ex, report


def _dense_warnings(info, stats, track, n, report):
  report.counts.update(
      decode_errors=stats.decode_errors,
      corrupt_frames=stats.corrupt_frames,
      missing_frames=info.num_frames - n,
      detections=track.detections,
      no_face_frames=int(n - sum(track.out["found"])),
      no_mouth_frames=int(sum(track.out["found"]) - sum(track.out["mouth_found"])))
  if n < info.num_frames:
    report.warnings.append(f"{info.num_frames - n} of {info.num_frames} frames could not be "
                           "decoded (corrupt or truncated) and are left out: frame_indices "
                           "has the gaps")
  if stats.decode_errors or stats.corrupt_frames:
    report.warnings.append(f"{stats.decode_errors} packets failed to decode, "
                           f"{stats.corrupt_frames} frames flagged corrupt")
  if info.declared_frames > info.num_frames:
    report.warnings.append(f"file is cut short: {info.num_frames} of "
                           f"{info.declared_frames} indexed frames present")
    report.counts["truncated"] = 1
  missing = report.counts["no_face_frames"]
  if not track.faces_seen:
    report.warnings.append(f"no face in any of the {n} frames ({track.detections} detector "
                           "runs)")
  elif missing:
    report.warnings.append(f"no face in {missing} of {n} frames (policy "
                           f"{track.cfg.no_face!r})")
  if report.counts["no_mouth_frames"]:
    report.warnings.append(f"face mesh found no face in {report.counts['no_mouth_frames']} "
                           "face crops")


def _dense_audio(collect, info, times, cfg, report):
  """Per-frame mel slots (audio.mel_windows) of a dense example, the slots of consecutive
    frames tiling the track without gaps or repeats when the frames are W hops apart."""
  t, w = len(times), cfg.audio_window
  hop = cfg.hop_length / cfg.sample_rate
  if t > 1:
    step = float(np.median(np.diff(times)))
    if abs(step - w * hop) > 0.01 * w * hop:
      report.warnings.append(f"frames are {step * 1000:.1f} ms apart but the {w} mel slots of a "
                             f"frame span {w * hop * 1000:.0f} ms: slots of neighbouring frames "
                             "overlap or leave gaps")
  track = _track(collect, info, report)
  if track is None:
    return (*audio.empty(t, cfg), False)
  # Slot j of frame t holds the mel frame centred nearest times[t] + (j - W // 2) hops. When a
  # frame time falls halfway between two mel frames, float noise would decide, frame by frame,
  # which one it gets (a slot doubled here, one skipped there). Rounding on a grid shifted (by
  # under half a hop) to put the first frame exactly on a mel frame removes those ties for
  # every frame on the video's clock; the mel frames themselves do not move.
  frac = (times[0] - track.start) / hop
  start = track.start - (np.round(frac) - frac) * hop
  win, valid = audio.mel_windows(track.samples, start, times, cfg)
  return win, valid, True


def _every_frame(video, stats, on_audio):
  """Yield (index, seconds, av.VideoFrame) of every frame that decodes, in presentation order
    (decode.Video.frames without its stand-ins: a frame that does not decode is left out)."""
  info = video.info
  pos = {} if info.ordinal else {int(p): i for i, p in enumerate(info.pts)}
  tb = float(video.container.streams.video[0].time_base)
  try:
    _, packets = video._from_start(bool(on_audio and info.has_audio))
    for packet in packets:
      if packet.stream.type != "video":
        on_audio(packet)
        continue
      try:
        decoded = packet.decode()
      except av.error.FFmpegError:
        stats.decode_errors += 1
        continue
      for frame in decoded:
        timed = decode.frame_time(frame, info, pos, tb, stats)
        if timed is not None:
          yield timed[0], timed[1], frame
  except av.error.FFmpegError:
    stats.truncated = True


_DENSE_SWITCH_INTERVAL = 0.0005


def _dense_pass(video, cfg, stats, collect):
  """Decode every frame here; detect, mesh and crop in one worker thread (_DenseTrack), a
    chunk of frames at a time, each chunk ending on an anchor. PyAV's decoder releases the GIL
    while it decodes, so the worker runs beside it on the second core; at most two chunks wait,
    which bounds the decoded frames held in memory."""
  key, (detector, mesh) = _MODELS.take(cfg)
  track = _DenseTrack(video.info, cfg, detector, mesh)
  ok = False
  old_interval = sys.getswitchinterval()
  sys.setswitchinterval(min(old_interval, _DENSE_SWITCH_INTERVAL))
  try:
    with futures.ThreadPoolExecutor(1, thread_name_prefix="dense") as pool:
      pending, chunk = collections.deque(), []
      for position, frame in enumerate(_every_frame(video, stats, collect)):
        chunk.append(frame)
        if position % cfg.detect_every == 0:
          pending.append(pool.submit(track.add, chunk, False))
          chunk = []
          while len(pending) > 2:
            pending.popleft().result()
      pending.append(pool.submit(track.add, chunk, True))
      for done in pending:
        done.result()
    ok = True
  finally:
    sys.setswitchinterval(old_interval)
    _MODELS.give_back(key, detector, mesh, reuse=ok)
  return track


@dataclasses.dataclass
class _Anchor:
  """A frame the detector ran on (dense sampling); geometry in upright source pixels."""
  time: float
  found: bool = False
  box: np.ndarray = None  # x0, y0, x1, y1 of the tracked face
  score: float = 0.0
  eye_angle: float = 0.0
  # Mouth from the face mesh, relative to the face box (so it follows the box between
  # anchors): centre offset from the box centre and width, in box sides; angle in radians.
  mouth: np.ndarray = None
  ear: float = 0.0
  points: np.ndarray = None  # landmarks.FACE_POINTS, source coordinates
  # Whether the mouth was looked for here: the mesh runs on the regular anchors only (extra
  # ones, added where the face moves, place the box; the mouth keeps its place in the box).
  mouth_sample: bool = True

  @property
  def geometry(self):  # centre x, centre y, width, height
    b = self.box
    return np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2] - b[0], b[3] - b[1]])


def _moved(a, b):
  """How far the face went from anchor a to b: centre shift in face sizes + log size ratio."""
  ga, gb = a.geometry, b.geometry
  sa, sb = max(ga[2], ga[3], 1e-6), max(gb[2], gb[3], 1e-6)
  return float(np.hypot(*(gb[:2] - ga[:2])) / ((sa + sb) / 2) + abs(np.log(sb / sa)))


def _lerp_angle(a, b, w):
  return a + w * ((b - a + np.pi) % (2 * np.pi) - np.pi)


class _DenseTrack:
  """The worker side of a dense pass: anchors, the face track, per-frame crops.

    `add` receives the frames since the last chunk, the last of them an anchor (the final
    chunk's last frame is one too). The window holds the frames from the previous anchor on;
    the detector runs on the new anchor, and on extra frames halfway between two anchors where
    the face moved by more than cfg.refine_motion face sizes or was found at one end only
    (bisecting down to neighbouring frames). Then every frame before the new anchor is cut:
    between two anchors with the face, box, score and mouth geometry are interpolated linearly
    (time is linear in position at a constant rate); elsewhere the face is not found and the
    crop takes the last face seen (or, before the first one, the next one in the window) as
    no_face="carry" does, or is black with "mark". The track is followed online: each anchor
    takes the detection nearest the last face found (faces._link_cost), else the largest.
    """

  def __init__(self, info, cfg, detector, mesh):
    self.cfg, self.detector, self.mesh = cfg, detector, mesh
    self.width, self.height, self.rotation = info.width, info.height, info.rotation
    self.window, self.anchors = [], {}  # anchors: window position -> _Anchor
    self.last_face = self.last_mouth = None  # latest anchors emitted with a face / a mouth
    self.detections, self.faces_seen = 0, False
    self.rgb = None  # shared VideoReformatter for frames that are not planar YUV
    self.out = {
        k: [] for k in ("index", "time", "frames", "mouth", "found", "score", "box", "mouth_found",
                       "mouth_box", "ear", "landmarks")
    }

  def add(self, chunk, final):
    self.window.extend(chunk)
    if chunk:
      new = len(self.window) - 1
      self.anchors[new] = self._detect(new, self._reference(new))
      if new > 0:
        self._refine(0, new)
    n = len(self.window) if final else len(self.window) - 1
    if n > 0:
      self._emit(n)
    self.window = self.window[n:]
    self.anchors = {k - n: a for k, a in self.anchors.items() if k >= n}

  def _reference(self, p):
    """The found anchor a new anchor at window position p links to: the nearest before it."""
    before = [k for k in self.anchors if k < p and self.anchors[k].found]
    return self.anchors[max(before)] if before else self.last_face

  def _refine(self, a, b):
    if b - a < 2 or self.cfg.refine_motion <= 0:
      return
    first, last = self.anchors[a], self.anchors[b]
    if first.found != last.found or (first.found and _moved(first, last) > self.cfg.refine_motion):
      m = (a + b) // 2
      self.anchors[m] = self._detect(m, self._reference(m), mesh=False)
      self._refine(a, m)
      self._refine(m, b)

  def _pixels(self, frame):
    if self.rgb is None and frame.format.name not in _YUV_FORMATS:
      from av.video.reformatter import VideoReformatter
      self.rgb = VideoReformatter()
    return _Pixels(frame, self.rotation, self.rgb)

  def _detect(self, p, reference, mesh=True):
    cfg = self.cfg
    _, seconds, frame = self.window[p]
    self.detections += 1
    pixels = self._pixels(frame)
    s = min(1.0, cfg.detect_max_side / max(self.width, self.height))
    w, h = max(2, int(round(self.width * s))), max(2, int(round(self.height * s)))
    sx, sy = self.width / w, self.height / h
    small = _warp(pixels, np.array([[sx, 0, 0.5 * sx], [0, sy, 0.5 * sy]]), w, h)
    dets = [d.scaled(w / self.width) for d in self.detector.detect(small)]
    anchor = _Anchor(seconds, mouth_sample=mesh)
    chosen = None
    if reference is not None and dets:
      costs = [(faces._link_cost(reference.box, d.box, seconds - reference.time), k)
               for k, d in enumerate(dets)]
      costs = [c for c in costs if c[0] is not None]
      if costs:
        chosen = dets[min(costs)[1]]
    chosen = chosen or faces.largest(dets)
    if chosen is None:
      return anchor
    self.faces_seen = True
    anchor.found, anchor.box, anchor.score = True, np.asarray(chosen.box, np.float64), chosen.score
    if chosen.eyes is not None:
      d = chosen.eyes[1] - chosen.eyes[0]
      anchor.eye_angle = float(np.arctan2(d[1], d[0]))
    if self.mesh is not None and mesh:
      geo = anchor.geometry
      side = cfg.face_scale * max(geo[2], geo[3])
      img = _warp(pixels, crop.crop_matrix(geo[:2], side, 0.0, _MESH_SIZE), _MESH_SIZE, _MESH_SIZE)
      pts = self.mesh.landmarks(img)
      if pts is not None:
        src = crop.crop_to_source(pts, geo[:2], side, 0.0, _MESH_SIZE)
        (cx, cy), width, angle = landmarks.mouth_geometry(src)
        size = max(geo[2], geo[3])
        anchor.mouth = np.array([(cx - geo[0]) / size, (cy - geo[1]) / size, width / size, angle])
        anchor.ear = landmarks.eye_aspect_ratio(pts)
        anchor.points = src[list(landmarks.FACE_POINTS)]
    return anchor

  def _emit(self, n):
    """Cut window frames 0..n-1 (see the class docstring): the per-frame geometry for all of
    them at once, then each frame's crops."""
    cfg, out = self.cfg, self.out
    size, msize = cfg.face_size, cfg.mouth_size
    keys = np.array(sorted(self.anchors))
    anchors = [self.anchors[k] for k in keys]
    pos = np.arange(n)
    ia, ib, w = _around(keys, pos)
    sampled = np.array([a.mouth_sample for a in anchors])
    ma, mb, mw = _around(keys[sampled], pos)  # the mouth's own anchors around each frame
    ma, mb = np.flatnonzero(sampled)[ma], np.flatnonzero(sampled)[mb]
    nan = np.full(4, np.nan)
    has_face = np.array([a.found for a in anchors])
    has_mouth = np.array([a.mouth is not None for a in anchors])
    geo = np.array([a.geometry if a.found else nan for a in anchors])
    rel = np.array([a.mouth if a.mouth is not None else nan for a in anchors])
    eye = np.array([a.eye_angle for a in anchors])
    score = np.array([a.score for a in anchors])
    found = has_face[ia] & has_face[ib]
    mouth_found = found & has_mouth[ma] & has_mouth[mb]
    wc = w[:, None]
    g = (1 - wc) * geo[ia] + wc * geo[ib]
    r = (1 - mw[:, None]) * rel[ma] + mw[:, None] * rel[mb]
    r[:, 3] = _lerp_angle(rel[ma, 3], rel[mb, 3], mw)
    angle = _lerp_angle(eye[ia], eye[ib], w)
    score = np.where(found, (1 - w) * score[ia] + w * score[ib], 0.0)
    carry_face = self._carried(has_face, ia, ib, self.last_face)
    carry_mouth = self._carried(has_mouth, ma, mb, self.last_mouth)
    for p in np.flatnonzero(~found):
      c = carry_face[p]
      g[p], angle[p] = (nan, 0.0) if c is None else (c.geometry, c.eye_angle)
    for p in np.flatnonzero(~mouth_found):
      c = carry_mouth[p]
      r[p] = nan if c is None else c.mouth
    if cfg.no_face == "mark":
      g[~found] = np.nan
    if not cfg.landmarks:
      r[:], mouth_found[:] = np.nan, False
    if not cfg.align_eyes:
      angle[:] = 0.0
    blank_face, blank_mouth = np.zeros((size, size, 3), np.uint8), np.zeros((msize, msize),
                                                                            np.uint8)
    no_points = np.full((landmarks.NUM_POINTS, 2), np.nan)
    for p, (cx, cy, bw, bh), (dx, dy, mw,
                              ma), turn in zip(range(n), g.tolist(), r.tolist(), angle.tolist()):
      index, seconds, frame = self.window[p]
      here = self.anchors.get(p)
      on_mesh = here is not None and here.found and here.mouth is not None
      face_crop, mouth_crop, box, mouth_box, points = blank_face, blank_mouth, nan, nan, no_points
      if cx == cx:  # not NaN: there is a face box (found, or carried)
        side = max(bw, bh)
        face_m = _square(cx, cy, cfg.face_scale * side, turn, size)
        face_crop = _warp(self._pixels(frame), face_m, size, size)
        box = np.array([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2])
        if on_mesh:
          points = crop.source_to_crop(here.points, np.reshape(face_m, (2, 3)))
        if dx == dx:
          mx, my, mside = cx + dx * side, cy + dy * side, cfg.mouth_scale * mw * side
          # The mouth lies inside the face crop, at about its resolution: cut it from there.
          in_face = _compose(_invert(face_m), _square(mx, my, mside, ma, msize))
          mouth_crop = cv2.cvtColor(
              cv2.warpAffine(
                  face_crop,
                  np.reshape(in_face, (2, 3)), (msize, msize),
                  flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                  borderMode=cv2.BORDER_CONSTANT,
                  borderValue=0), cv2.COLOR_RGB2GRAY)
          mouth_box = np.array([mx - mside / 2, my - mside / 2, mx + mside / 2, my + mside / 2])
      out["index"].append(index)
      out["time"].append(seconds)
      out["frames"].append(face_crop)
      out["mouth"].append(mouth_crop)
      out["box"].append(box)
      out["mouth_box"].append(mouth_box)
      out["ear"].append(here.ear if on_mesh else 0.0)
      out["landmarks"].append(points)
    out["found"].extend(found.tolist())
    out["mouth_found"].extend(mouth_found.tolist())
    out["score"].extend(score.tolist())
    emitted = [a for k, a in zip(keys, anchors) if k < n]
    self.last_face = next((a for a in emitted[::-1] if a.found), self.last_face)
    self.last_mouth = next((a for a in emitted[::-1] if a.mouth is not None), self.last_mouth)

  def _carried(self, has, ia, ib, before):
    """Per frame, the anchor whose face (or mouth) a frame without one takes: the last one at or
    before it, else the last one emitted before this window, else the next one in the window."""
    k = np.arange(len(has))
    last = np.maximum.accumulate(np.where(has, k, -1))[ia]
    upcoming = np.minimum.accumulate(np.where(has, k, len(has))[::-1])[::-1][ib]
    anchors = [self.anchors[key] for key in sorted(self.anchors)]
    return [
        anchors[a]
        if a >= 0 else before if before is not None else anchors[b] if b < len(has) else None
        for a, b in zip(last.tolist(), upcoming.tolist())
    ]


def _around(keys, pos):
  """Indices of the last key at or before each position, of the first at or after it, and the
    position's fraction of the way between them (0 on a key)."""
  ia = np.searchsorted(keys, pos, side="right") - 1
  ib = np.searchsorted(keys, pos, side="left")
  span = keys[ib] - keys[ia]
  return ia, ib, np.where(span > 0, (pos - keys[ia]) / np.maximum(span, 1), 0.0)


def _square(cx, cy, side, angle, out_size):
  """crop.crop_matrix as a flat (a, b, tx, c, d, ty) tuple of floats: computed once a frame,
    plain arithmetic costs a fraction of numpy's per-call overhead."""
  k, c, s = side / out_size, math.cos(angle), math.sin(angle)
  h = k * 0.5 - side / 2
  return (k * c, -k * s, cx + (c - s) * h, k * s, k * c, cy + (s + c) * h)


def _compose(f, g):
  """f after g, both flat 2x3 affine maps."""
  return (f[0] * g[0] + f[1] * g[3], f[0] * g[1] + f[1] * g[4], f[0] * g[2] + f[1] * g[5] + f[2],
          f[3] * g[0] + f[4] * g[3], f[3] * g[1] + f[4] * g[4], f[3] * g[2] + f[4] * g[5] + f[5])


def _invert(f):
  det = f[0] * f[4] - f[1] * f[3]
  a, b, c, d = f[4] / det, -f[1] / det, -f[3] / det, f[0] / det
  return (a, b, -(a * f[2] + b * f[5]), c, d, -(c * f[2] + d * f[5]))


# Planar 8-bit YUV formats the crops are cut from directly: chroma subsampling (x, y), full
# range. Other formats are converted whole to RGB first (swscale).
_YUV_FORMATS = {
    "yuv420p": (2, 2, False),
    "yuvj420p": (2, 2, True),
    "yuv422p": (2, 1, False),
    "yuvj422p": (2, 1, True),
    "yuv444p": (1, 1, False),
    "yuvj444p": (1, 1, True),
}
# AVColorSpace -> luma weights (Kr, Kb); any other value (unspecified, BT.470BG, SMPTE 170M) is
# BT.601, as swscale takes it.
_LUMA_WEIGHTS = {
    1: (0.2126, 0.0722),
    4: (0.30, 0.11),
    7: (0.212, 0.087),
    9: (0.2627, 0.0593),
    10: (0.2627, 0.0593)
}
_AVCOL_RANGE_JPEG = 2


@functools.lru_cache(maxsize=None)
def _yuv_to_rgb(colorspace, full_range):
  """3x4 affine map from (Y, U, V) codes to RGB (0-255) for cv2.transform."""
  kr, kb = _LUMA_WEIGHTS.get(int(colorspace), (0.299, 0.114))
  kg = 1 - kr - kb
  rows = np.array([[1, 0, 2 * (1 - kr)], [1, -2 * kb * (1 - kb) / kg, -2 * kr * (1 - kr) / kg],
                   [1, 2 * (1 - kb), 0]])
  scale, offset = ((1.0, 1.0), 0.0) if full_range else ((255 / 219, 255 / 224), 16.0)
  a = rows * np.array([scale[0], scale[1], scale[1]])
  return np.hstack([a, (-a @ np.array([offset, 128.0, 128.0]))[:, None]])


def _upright_to_stored(k, width, height):
  """Flat 2x3 map from upright continuous coordinates to the stored frame's (np.rot90 by k
    turns the stored frame upright; width, height: the stored frame's size)."""
  return ((1, 0, 0, 0, 1, 0), (0, -1, width, 1, 0, 0), (-1, 0, width, 0, -1, height),
          (0, 1, 0, -1, 0, height))[k]


class _Pixels:
  """A decoded frame's pixels as planes to warp from, without converting the whole frame.

    Converting every frame to RGB (swscale) would cost about as much as decoding it at 224 px,
    more at higher resolutions; cutting the small crops from the Y, U and V planes and converting
    only them costs a fraction. Chroma samples sit at the centre of their luma block. Other
    pixel formats are converted whole, once, by a shared reformatter (a new one per frame would
    set up swscale again each time, ~1 ms).
    """

  def __init__(self, frame, rotation, reformatter):
    k = int(round(rotation / 90.0)) % 4
    self.to_stored = _upright_to_stored(k, frame.width, frame.height) if k else None
    layout = _YUV_FORMATS.get(frame.format.name)
    if layout is None:
      rgb = reformatter.reformat(frame, format="rgb24").to_ndarray()
      self.planes, self.colour = [(rgb, 1, 1, 0)], None
      return
    sx, sy, full = layout
    full = full or int(frame.color_range) == _AVCOL_RANGE_JPEG
    sizes = [(frame.height, frame.width), (-(-frame.height // sy), -(-frame.width // sx))]
    self.planes = []
    for i, (h, w) in enumerate(sizes + sizes[1:]):
      plane = frame.planes[i]
      img = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:h, :w]
      self.planes.append(
          (img, 1 if i == 0 else sx, 1 if i == 0 else sy, (0 if full else 16) if i == 0 else 128))
    self.colour = _yuv_to_rgb(int(frame.colorspace), bool(full))


def _warp(pixels, m, width, height):
  """uint8 [height, width, 3] RGB whose pixel (u, v) shows the upright source point
    m (u, v, 1) (m: crop.crop_matrix's map, flat or 2x3), bilinear; black outside the frame.
    Where the crop shrinks a plane 2x or more, the region is first shrunk by the whole factor
    with area averaging, so fine detail does not alias."""
  m = m if isinstance(m, tuple) else tuple(np.ravel(m).tolist())
  a, b, tx, c, d, ty = m if pixels.to_stored is None else _compose(pixels.to_stored, m)
  warped = []
  for img, sx, sy, border in pixels.planes:
    mp = [a / sx, b / sx, tx / sx, c / sy, d / sy, ty / sy]  # continuous coords of this plane
    factor = int(math.sqrt(abs(mp[0] * mp[4] - mp[1] * mp[3])))
    if factor >= 2:
      us, vs = (-0.5, width - 0.5, -0.5, width - 0.5), (-0.5, -0.5, height - 0.5, height - 0.5)
      xs = [mp[0] * u + mp[1] * v + mp[2] for u, v in zip(us, vs)]
      ys = [mp[3] * u + mp[4] * v + mp[5] for u, v in zip(us, vs)]
      x0, y0 = max(int(math.floor(min(xs))) - factor, 0), max(int(math.floor(min(ys))) - factor, 0)
      x1 = min(int(math.ceil(max(xs))) + factor, img.shape[1])
      y1 = min(int(math.ceil(max(ys))) + factor, img.shape[0])
      nx, ny = (x1 - x0) // factor, (y1 - y0) // factor
      if nx < 1 or ny < 1:  # the crop lies outside the frame
        warped.append(np.full((height, width) + img.shape[2:], border, np.uint8))
        continue
      img = cv2.resize(
          img[y0:y0 + ny * factor, x0:x0 + nx * factor], (nx, ny), interpolation=cv2.INTER_AREA)
      mp = [
          mp[0] / factor, mp[1] / factor, (mp[2] - x0) / factor, mp[3] / factor, mp[4] / factor,
          (mp[5] - y0) / factor
      ]
    # continuous -> pixel index, as cv2 samples
    matrix = np.array([mp[0], mp[1], mp[2] - 0.5, mp[3], mp[4], mp[5] - 0.5]).reshape(2, 3)
    warped.append(
        cv2.warpAffine(
            img,
            matrix, (width, height),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(border,) * 3))
  if pixels.colour is None:
    return warped[0]
  return cv2.transform(cv2.merge(warped), pixels.colour)
