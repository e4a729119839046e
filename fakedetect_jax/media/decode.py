"""Video decoding with PyAV: probe, choose frames, decode only what is needed, in one pass.

Frame indices are 0-based positions in presentation order. They are found from packet
timestamps (a cheap demux pass, no decoding), not by counting decoded frames, so a frame that
fails to decode does not shift every later index, and a variable frame rate needs no special
case. Frames are returned upright: the container's display rotation is applied.
"""
import dataclasses
import os

import av
import numpy as np

from fakedetect_jax.media import errors


@dataclasses.dataclass(frozen=True, eq=False)
class VideoInfo:
  path: str
  num_frames: int  # frames in the stream (from packets, exact for any container)
  fps: float  # average rate: num_frames / duration
  duration: float  # seconds, first frame to end of last frame
  width: int  # display size (after rotation)
  height: int
  rotation: int  # display rotation, degrees counter-clockwise (PyAV convention)
  has_audio: bool
  start_time: float  # pts of the first frame in seconds; timestamps are relative to it
  declared_frames: int  # frame count the container's index claims (0 if it has none);
  # more than num_frames means the file is cut short
  ordinal: bool  # no timestamps (raw streams): frames counted, times from the rate
  pts: np.ndarray = dataclasses.field(repr=False)  # sorted video pts, stream time base


def open_container(path):
  """av.open with each failure turned into a one-line MediaError naming the file."""
  path = os.fspath(path)
  if not os.path.exists(path):
    raise errors.MissingFileError(path)
  if os.path.isdir(path):
    raise errors.NotAVideoError(path, "is a directory")
  if os.path.getsize(path) == 0:
    raise errors.EmptyFileError(path)
  try:
    container = av.open(path, mode="r")
  except av.error.FFmpegError as e:
    if _looks_like_mp4(path):
      raise errors.TruncatedVideoError(path, f"mp4 header present but {_reason(e)}") from None
    raise errors.NotAVideoError(path, _reason(e)) from None
  if not container.streams.video:
    container.close()
    raise errors.NoVideoStreamError(
        path, "only " + (", ".join(s.type for s in container.streams) or "no") + " streams")
  return container


def _looks_like_mp4(path):
  with open(path, "rb") as f:
    head = f.read(12)
  return head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide")


def _reason(exc):
  msg = getattr(exc, "strerror", None) or str(exc)
  return " ".join(str(msg).split()).rstrip(".").lower()


class Video:
  """An open video: metadata from one demux pass, then one decoding pass, one file open.

        with Video(path) as v:
            v.info.num_frames
            for slots, index, seconds, frame in v.frames(indices, stats, on_audio=...): ...
    """

  def __init__(self, path):
    self.path = os.fspath(path)
    self.container = open_container(self.path)
    try:
      self.info = _probe(self.path, self.container)
    except BaseException:
      self.container.close()
      raise

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()

  def close(self):
    self.container.close()

  def _rewind(self):
    # Seeking to 0 restarts demuxing at the first packet in every container we met; if a
    # format refuses, reopening is the fallback.
    try:
      self.container.seek(0)
      self.container.streams.video[0].codec_context.flush_buffers()
    except (av.error.FFmpegError, ValueError):
      self.container.close()
      self.container = open_container(self.path)

  def frames(self, indices, stats=None, skip_unneeded=True, on_audio=None):
    return _decode(self, indices, stats, skip_unneeded, on_audio)


def probe(path):
  """VideoInfo of a file (opens and closes it)."""
  with Video(path) as v:
    return v.info


def _probe(path, container):
  """Metadata from the container and one demux pass over the video packets.

    Only the first frame is decoded (its display matrix gives the rotation); the frame count,
    duration and frame rate come from the packets, so they are exact for any container.
    """
  stream = container.streams.video[0]
  pts, last_end, rotation, untimed = [], None, None, 0
  try:
    for packet in container.demux(stream):
      if rotation is None:
        try:
          for frame in packet.decode():
            rotation = int(round(frame.rotation or 0))
            break
        except av.error.FFmpegError:
          pass
      if packet.size == 0:
        continue
      if packet.pts is None:
        untimed += 1
        continue
      pts.append(packet.pts)
      end = packet.pts + (packet.duration or 0)
      last_end = end if last_end is None else max(last_end, end)
  except av.error.FFmpegError:
    pass  # a truncated tail: keep the packets read so far, decoding will report it
  ordinal = not pts and untimed > 0
  if ordinal:  # a raw stream: one packet per frame, times from the nominal rate
    rate = float(stream.average_rate or stream.guessed_rate or 25)
    pts, tb = np.arange(untimed, dtype=np.int64), 1.0 / rate
    duration = untimed / rate
  elif not pts:
    raise errors.TruncatedVideoError(path, "no video packets")
  else:
    pts = np.unique(np.asarray(pts, np.int64))
    tb = float(stream.time_base)
    duration = (max(last_end, pts[-1]) - pts[0]) * tb
  n = len(pts)
  if duration <= 0:  # a single frame without duration
    duration = 1.0 / float(stream.average_rate or 25)
  rotation = rotation or 0
  w, h = stream.codec_context.width, stream.codec_context.height
  if rotation % 180:
    w, h = h, w
  return VideoInfo(
      path=path,
      num_frames=n,
      fps=float(n / duration),
      duration=float(duration),
      width=w,
      height=h,
      rotation=rotation,
      has_audio=bool(container.streams.audio),
      start_time=float(pts[0] * tb),
      declared_frames=int(stream.frames or 0),
      ordinal=ordinal,
      pts=pts)


def sample_indices(num_total, cfg):
  """Which source frames to take: int32 [cfg.num_frames], sorted, repeats when too short.

    Returns (indices, padded): padded is True when the video has fewer usable frames than asked
    and some indices repeat.
    """
  t = cfg.num_frames
  n = max(int(num_total), 1)
  if cfg.sampling == "even" and cfg.protocol == "deepfakebench":
    idx = np.linspace(0, n - 1, t).astype(np.int64)  # theirs: first and last frame included
  elif cfg.sampling == "even":
    if n >= t:
      # Centre of each of t equal segments, so the first and last frames (often fades or
      # black) are not favoured, and no frame repeats.
      idx = np.floor((np.arange(t) + 0.5) * n / t).astype(np.int64)
    else:
      idx = np.floor(np.arange(t) * n / t).astype(np.int64)
  elif cfg.sampling == "stride":
    idx = cfg.start_frame + cfg.stride * np.arange(t)
    if idx[-1] >= n:  # not enough frames: spread what exists over t slots
      avail = np.arange(min(cfg.start_frame, n - 1), n, cfg.stride)
      idx = avail[np.floor(np.arange(t) * len(avail) / t).astype(np.int64)]
  else:  # clips
    k, length = t // cfg.clip_len, cfg.clip_len
    if n >= length:
      starts = np.floor((np.arange(k) + 0.5) * (n - length + 1) / k).astype(np.int64)
      starts = np.minimum(starts, n - length)
      idx = (starts[:, None] + np.arange(length)[None, :]).reshape(-1)
    else:
      idx = np.tile(np.floor(np.arange(length) * n / length).astype(np.int64), k)
  idx = np.clip(idx, 0, n - 1).astype(np.int32)
  padded = len(np.unique(idx)) < t
  return idx, padded


@dataclasses.dataclass
class DecodeStats:
  decode_errors: int = 0  # packets the decoder rejected
  corrupt_frames: int = 0  # frames the decoder flagged as corrupt
  missing: int = 0  # wanted indices never decoded (replaced by a neighbour)
  decoded_to: int = -1  # last frame index decoded
  truncated: bool = False


def decode_frames(info, indices, stats=None, skip_unneeded=True):
  """Open info.path and yield its wanted frames: see Video.frames / _decode."""
  with Video(info.path) as v:
    yield from v.frames(indices, stats, skip_unneeded)


def _decode(video, indices, stats, skip_unneeded, on_audio):
  """Yield (slot_list, index, seconds, av.VideoFrame) for the wanted frames, in order.

    Pixels are not converted here: callers take what they need with `to_rgb` or `rgb_region`
    (only sampled frames are ever converted, which is most of the saving over a naive decode
    loop).
    indices: wanted indices (repeats allowed); slot_list gives the positions in `indices`
    served by this frame. A wanted frame that never decodes (corrupt or truncated) is served by
    the next decoded frame, or the last one at the end, and counted in stats.missing.
    skip_unneeded: let the decoder drop non-reference frames that are not wanted. This is exact
    (no other frame depends on them) and saves a good share of H.264 decode time.
    on_audio: called with each packet of the first audio stream, so audio needs no second pass.
    """
  info = video.info
  stats = stats if stats is not None else DecodeStats()
  indices = np.asarray(indices)
  wanted = set(indices.tolist())
  order = np.argsort(indices, kind="stable")
  j = 0  # next position in `order` to serve
  last = None
  video._rewind()
  container = video.container
  stream = container.streams.video[0]
  ctx = stream.codec_context
  tb = float(stream.time_base)
  pos = {} if info.ordinal else {int(p): i for i, p in enumerate(info.pts)}
  skip_unneeded = skip_unneeded and not info.ordinal
  streams = [stream] + ([container.streams.audio[0]] if on_audio and info.has_audio else [])

  def frames():
    try:
      for packet in container.demux(streams):
        if packet.stream.type != "video":
          on_audio(packet)
          continue
        if skip_unneeded:
          i = pos.get(packet.pts)
          ctx.skip_frame = "DEFAULT" if (i is None or i in wanted) else "NONREF"
        try:
          yield from packet.decode()
        except av.error.FFmpegError:
          stats.decode_errors += 1
    except av.error.FFmpegError:
      stats.truncated = True
    # demux() ends with an empty packet per stream, whose decode() flushed the decoder.

  for frame in frames():
    i = pos.get(frame.pts) if frame.pts is not None else None
    if i is None:  # no usable timestamp: count in order, time from the rate
      i = stats.decoded_to + 1
      seconds = i / info.fps
    else:
      seconds = frame.pts * tb - info.start_time
    stats.decoded_to = max(stats.decoded_to, i)
    if getattr(frame, "is_corrupt", False):
      stats.corrupt_frames += 1
    last = (frame, i, seconds)
    if j < len(order) and indices[order[j]] <= i:
      slots = []
      while j < len(order) and indices[order[j]] <= i:
        if indices[order[j]] != i:
          stats.missing += 1
        slots.append(int(order[j]))
        j += 1
      yield slots, i, seconds, frame
  if j < len(order):
    if last is None:
      raise errors.TruncatedVideoError(info.path, "no frame could be decoded")
    stats.truncated = stats.truncated or stats.decoded_to < info.num_frames - 1
    stats.missing += len(order) - j
    frame, i, seconds = last
    yield [int(s) for s in order[j:]], i, seconds, frame


def upright_size(frame, rotation):
  """(width, height) of `to_rgb(frame, rotation)` without converting anything."""
  if int(round(rotation / 90.0)) % 2:
    return frame.height, frame.width
  return frame.width, frame.height


def rgb_region(frame, rotation, x0, y0, x1, y1):
  """`to_rgb(frame, rotation)[y0:y1, x0:x1]`, converting only that region.

    Faces need a patch around each detection, often a small part of the frame: converting
    the whole 1080p frame to RGB cost 1.5-4 ms a frame, the patch a fraction of it. For
    yuv420p (nearly every H.264 file) the region's planes, widened to even bounds so each
    pixel keeps its 2x2 block's chroma, go through the same-size swscale conversion on their
    own, with the frame's colour metadata: the pixels are identical to the whole frame's
    (checked for odd bounds, rotations and colour spaces in tests/media/test_media_decode.py).
    Other pixel formats convert the whole frame.
    """
  k = int(round(rotation / 90.0)) % 4
  hs, ws = frame.height, frame.width
  # The region in stored (not yet rotated) coordinates: np.rot90 by k maps it onto the
  # upright one.
  r0, r1, c0, c1 = [(y0, y1, x0, x1), (x0, x1, ws - y1, ws - y0),
                    (hs - y1, hs - y0, ws - x1, ws - x0), (hs - x1, hs - x0, y0, y1)][k]
  if frame.format.name != "yuv420p" or hs % 2 or ws % 2:
    img = frame.to_ndarray(format="rgb24")[r0:r1, c0:c1]
  else:
    e0, e1, f0, f1 = r0 & ~1, (r1 + 1) & ~1, c0 & ~1, (c1 + 1) & ~1
    h, w = e1 - e0, f1 - f0
    buf = np.empty((h * 3 // 2, w), np.uint8)  # yuv420p layout for from_ndarray
    planes = frame.planes
    buf[:h] = np.frombuffer(planes[0], np.uint8).reshape(-1, planes[0].line_size)[e0:e1, f0:f1]
    chroma = buf[h:].reshape(2, h // 2, w // 2)
    for i in (1, 2):
      plane = np.frombuffer(planes[i], np.uint8).reshape(-1, planes[i].line_size)
      chroma[i - 1] = plane[e0 // 2:e1 // 2, f0 // 2:f1 // 2]
    part = av.VideoFrame.from_ndarray(buf, format="yuv420p")
    # Same colour metadata, so swscale picks the same matrix and range as for the frame.
    part.colorspace, part.color_range = frame.colorspace, frame.color_range
    img = part.to_ndarray(format="rgb24")[r0 - e0:r1 - e0, c0 - f0:c1 - f0]
  return np.ascontiguousarray(np.rot90(img, k)) if k else img


def to_rgb(frame, rotation, max_side=None):
  """Upright uint8 [H,W,3]; with max_side, shrunk (area filter) so the long side fits.

    The shrink happens in swscale on the YUV frame, together with the colour conversion:
    several times cheaper than converting the full frame and resizing it.
    """
  w, h = frame.width, frame.height
  if max_side and max(w, h) > max_side:
    s = max_side / max(w, h)
    img = frame.reformat(
        width=max(2, int(round(w * s))),
        height=max(2, int(round(h * s))),
        format="rgb24",
        interpolation="AREA").to_ndarray()
  else:
    img = frame.to_ndarray(format="rgb24")
  k = int(round(rotation / 90.0)) % 4
  return np.ascontiguousarray(np.rot90(img, k)) if k else img
