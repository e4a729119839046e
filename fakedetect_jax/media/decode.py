"""Video decoding with PyAV: probe, choose frames, decode only what is needed, in one pass.

Frame indices are 0-based positions in presentation order. They are found from packet
timestamps (a cheap demux pass, no decoding), not by counting decoded frames, so a frame that
fails to decode does not shift every later index, and a variable frame rate needs no special
case. Only packets the decoder will present are counted: those an edit list cuts away (the
demuxer flags them "discard"; the decoder drops their frames) and the partial last packet of a
cut-off file (flagged "corrupt") are not frames of the video. Frames are returned upright: the
container's display rotation is applied.
"""
import collections
import dataclasses
import itertools
import os

import av
import numpy as np

from fakedetect_jax.media import errors


@dataclasses.dataclass(frozen=True, eq=False)
class VideoInfo:
  path: str
  num_frames: int  # presentable frames (from packets, exact for any container)
  fps: float  # average rate: num_frames / duration
  duration: float  # seconds, first frame to end of last frame
  width: int  # display size (after rotation)
  height: int
  rotation: int  # display rotation, degrees counter-clockwise (PyAV convention): the frames'
  # display matrix, else a legacy `rotate` tag
  has_audio: bool
  start_time: float  # pts of the first frame in seconds; timestamps are relative to it
  declared_frames: int  # presentable frames the container's index claims (0 if it has none);
  # more than num_frames means the file is cut short
  ordinal: bool  # no timestamps (raw streams): frames counted, times from the rate
  pts: np.ndarray = dataclasses.field(repr=False)  # sorted video pts, stream time base
  # _signature of the first packet: of the video stream (False), of video and audio (True)
  first_packets: dict = dataclasses.field(repr=False, default_factory=dict)


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

  def _from_start(self, with_audio):
    """(video stream, packets of it and, with_audio, of the first audio stream) from the
    first packet on.

    Seeking to 0 is cheaper than opening the file again, but in some files it skips packets
    before time 0 (in mkv, webm and mov the audio codec's priming packet): the first packet
    is checked against the probe's, and on a mismatch the file is reopened.
    """
    for reopen in (False, True):
      if reopen:
        self.container.close()
        self.container = open_container(self.path)
      else:
        try:
          self.container.seek(0)
          self.container.streams.video[0].codec_context.flush_buffers()
        except (av.error.FFmpegError, ValueError):
          continue
      container = self.container
      streams = [container.streams.video[0]]
      if with_audio:
        streams.append(container.streams.audio[0])
      packets = container.demux(streams)
      first = next(packets, None)
      if reopen or _signature(first) == self.info.first_packets.get(bool(with_audio)):
        return streams[0], itertools.chain([first] if first is not None else [], packets)

  def frames(self, indices, stats=None, skip_unneeded=True, on_audio=None):
    return _decode(self, indices, stats, skip_unneeded, on_audio)


def probe(path):
  """VideoInfo of a file (opens and closes it)."""
  with Video(path) as v:
    return v.info


def _probe(path, container):
  """Metadata from the container and one demux pass over the video packets.

    Only the first frame is decoded (its display matrix gives the rotation); the frame count,
    duration and frame rate come from the presentable packets (see the module docstring), so
    they are exact for any container.
    """
  stream = container.streams.video[0]
  pts, last_end, rotation, untimed, discarded = [], None, None, 0, 0
  first = {}
  try:
    for packet in container.demux([stream] + list(container.streams.audio[:1])):
      first.setdefault(True, _signature(packet))
      if packet.stream.type != "video":
        continue
      first.setdefault(False, _signature(packet))
      if rotation is None:
        try:
          for frame in packet.decode():
            rotation = int(round(frame.rotation or 0))
            break
        except av.error.FFmpegError:
          pass
      if packet.is_discard:  # cut by an edit list; the index counts it
        discarded += 1
        continue
      if packet.size == 0 or packet.is_corrupt:
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
  rotation = rotation or _rotate_tag(stream)
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
      declared_frames=max(int(stream.frames or 0) - discarded, 0),
      ordinal=ordinal,
      pts=pts,
      first_packets=first)


def _rotate_tag(stream):
  """Rotation (ccw degrees) from a legacy `rotate` metadata tag, 0 without one.

    Before display matrices could be stored in Matroska, remuxed phone videos carried the
    rotation as a `rotate` tag (old FFmpeg's export of the mp4 matrix): clockwise degrees.
    FFmpeg leaves it as metadata, so it only applies when the frames carry no display matrix.
    """
  tag = next((v for k, v in stream.metadata.items() if k.lower() == "rotate"), None)
  try:
    r = -int(round(float(tag))) % 360
  except (TypeError, ValueError):
    return 0
  return r - 360 if r > 180 else r


def _signature(packet):
  return None if packet is None else (packet.stream.index, packet.pos, packet.pts, packet.size)


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
  missing: int = 0  # wanted indices never decoded (served by a neighbour)
  unplanned: int = 0  # decoded frames whose timestamp no presentable packet had (ignored)
  decoded_to: int = -1  # last frame index decoded
  truncated: bool = False


# Decoded frames no slot wants, kept (the latest few, after the last frame served) so that a
# wanted frame that never decodes gets a distinct neighbour that came before it.
SPARE_FRAMES = 4


def frame_time(frame, info, pos, tb, stats):
  """(index, seconds) of a decoded frame in presentation order, counted in `stats` (decoded_to,
  corrupt_frames); None for a frame no presentable packet planned (stats.unplanned). pos: pts
  -> index (empty for an ordinal stream, whose frames are counted in order); tb: time base."""
  if frame.pts is None or info.ordinal:  # no usable timestamp: count in order
    i = stats.decoded_to + 1
    seconds = i / info.fps
  else:
    i = pos.get(frame.pts)
    if i is None or i <= stats.decoded_to:  # not a presentable packet's frame
      stats.unplanned += 1
      return None
    seconds = frame.pts * tb - info.start_time
  stats.decoded_to = i
  if getattr(frame, "is_corrupt", False):
    stats.corrupt_frames += 1
  return i, seconds


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
    a decoded frame near it that nothing else wants, one of the last SPARE_FRAMES before it or
    the one after it, so the indices stay distinct and increasing; only when there is none does
    a frame serve two indices (the next decoded frame, or the last one at the end). Either way
    the slots are counted in stats.missing and the yielded index is the frame's own.
    skip_unneeded: let the decoder drop non-reference frames that are not wanted. This is exact
    (no other frame depends on them) and saves a good share of H.264 decode time.
    on_audio: called with each packet of the first audio stream, so audio needs no second pass.
    """
  info = video.info
  stats = stats if stats is not None else DecodeStats()
  indices = np.asarray(indices)
  order = np.argsort(indices, kind="stable")
  # (index, its slots) for each distinct wanted index, increasing.
  groups = [(int(v), [int(o) for o in order[indices[order] == v]]) for v in np.unique(indices)]
  wanted = set(v for v, _ in groups)
  with_audio = bool(on_audio and info.has_audio)
  pos = {} if info.ordinal else {int(p): i for i, p in enumerate(info.pts)}
  skip_unneeded = skip_unneeded and not info.ordinal
  tb = float(video.container.streams.video[0].time_base)

  def frames():
    try:
      stream, packets = video._from_start(with_audio)
      ctx = stream.codec_context
      for packet in packets:
        if packet.stream.type != "video":
          on_audio(packet)
          continue
        if skip_unneeded:
          # After a decode error a wanted frame may be lost: decode everything until the
          # next frame is served, so the frames next to it are there to stand in.
          i = pos.get(packet.pts)
          keep = i is None or i in wanted or stats.decode_errors > errors_when_served
          ctx.skip_frame = "DEFAULT" if keep else "NONREF"
        try:
          yield from packet.decode()
        except av.error.FFmpegError:
          stats.decode_errors += 1
    except av.error.FFmpegError:
      stats.truncated = True
    # demux() ends with an empty packet per stream, whose decode() flushed the decoder.

  def timed_frames():  # (frame, index, seconds) in presentation order
    for frame in frames():
      timed = frame_time(frame, info, pos, tb, stats)
      if timed is not None:
        yield frame, timed[0], timed[1]

  errors_when_served = 0  # stats.decode_errors when a frame was last served
  k = 0  # next position in `groups` to serve
  spare = collections.deque(maxlen=SPARE_FRAMES)
  last = None
  for frame, i, seconds in timed_frames():
    last = (frame, i, seconds)
    lost = []
    while k < len(groups) and groups[k][0] < i:
      lost.append(groups[k])
      k += 1
    own = []
    if k < len(groups) and groups[k][0] == i:
      own = list(groups[k][1])
      k += 1
    if lost:
      stats.missing += sum(len(slots) for _, slots in lost)
      candidates = list(spare) + ([] if own else [last])
      if not candidates:  # this frame is wanted and nothing came between: it serves them too
        own += [slot for _, slots in lost for slot in slots]
      for cand, slots in _stand_ins(lost, candidates) if candidates else ():
        if cand[1] == i:
          own += slots
        else:
          yield (slots, *cand[1:], cand[0])
      spare.clear()
    if own:
      yield sorted(own), i, seconds, frame
      spare.clear()
      errors_when_served = stats.decode_errors
    else:
      spare.append(last)
  if k < len(groups):
    if last is None:
      raise errors.TruncatedVideoError(info.path, "no frame could be decoded")
    stats.truncated = stats.truncated or stats.decoded_to < info.num_frames - 1
    lost = groups[k:]
    stats.missing += sum(len(slots) for _, slots in lost)
    for cand, slots in _stand_ins(lost, list(spare) or [last]):
      yield (slots, *cand[1:], cand[0])


def _stand_ins(lost, candidates):
  """Which decoded frames serve wanted indices that never decoded: [(candidate, slots)].

    lost: [(index, slots)] increasing; candidates: [(frame, index, seconds)], increasing
    indices. With enough candidates each lost index gets its own, nearest first, in order;
    otherwise each takes its nearest and some share one.
    """
  idx = np.array([c[1] for c in candidates])
  out = []
  if len(candidates) >= len(lost):
    lo = 0
    for q, (v, slots) in enumerate(lost):
      hi = len(candidates) - (len(lost) - q)  # leave one for each lost index after this
      p = lo + int(np.argmin(np.abs(idx[lo:hi + 1] - v)))
      out.append((candidates[p], list(slots)))
      lo = p + 1
    return out
  for v, slots in lost:
    p = int(np.argmin(np.abs(idx - v)))
    if out and out[-1][0] is candidates[p]:
      out[-1][1].extend(slots)
    else:
      out.append((candidates[p], list(slots)))
  return out


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
