"""Write real H.264 (+AAC) mp4 files from numpy arrays: test material and dataset fixtures."""
import fractions
import os

import av
import numpy as np

# A variable frame rate is written on the MPEG 90 kHz clock; a constant one on 1/fps ticks, exactly.
_VFR_CLOCK = 90000


def write_video(path,
                frames,
                fps=25,
                audio=None,
                sample_rate=16000,
                rotation=0,
                *,
                timestamps=None,
                crf=18,
                preset="veryfast",
                gop=None,
                audio_bitrate=64000,
                faststart=False):
  """Write frames (uint8 [T,H,W,3] RGB, or an iterable of [H,W,3]) as an H.264 mp4, with an
    optional mono AAC track, interleaved as a camera or muxer would.

    fps: nominal rate; each frame lasts 1/fps unless `timestamps` (seconds, increasing, one per
      frame) gives a variable frame rate.
    audio: float32 mono samples in [-1, 1] at `sample_rate`, or None for a file without audio.
    rotation: display rotation in degrees counter-clockwise (PyAV's convention; phones store
      portrait video as landscape frames plus a rotation); frames are stored as given.
    faststart: put the index (moov) before the data, as streaming sites do.
    Odd widths or heights are stored as 4:4:4, since 4:2:0 H.264 needs even sizes.
    An iterable of frames is encoded as it is consumed (long videos never sit in memory).
    """
  rate = fractions.Fraction(fps).limit_denominator(1001)
  if timestamps is None:
    time_base = 1 / rate
  else:
    time_base = fractions.Fraction(1, _VFR_CLOCK)
    timestamps = np.asarray(timestamps, np.float64)
    if np.any(np.diff(np.round(timestamps * _VFR_CLOCK)) <= 0):
      raise ValueError("timestamps must be strictly increasing")

  audio_chunks = []
  if audio is not None:
    audio_chunks = _audio_frames(np.asarray(audio, np.float32).reshape(-1), int(sample_rate))

  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  options = {"movflags": "+faststart"} if faststart else {}
  with av.open(os.fspath(path), mode="w", format="mp4", options=options) as out:
    vs = None
    as_ = None
    if audio is not None:
      as_ = out.add_stream("aac", rate=int(sample_rate), layout="mono")
      as_.bit_rate = int(audio_bitrate)
    n = 0
    for n, img in enumerate(frames):
      img = np.asarray(img)
      if img.dtype != np.uint8 or img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"frame {n} must be uint8 [H,W,3], got {img.dtype} {img.shape}")
      if vs is None:
        vs = _video_stream(out, img.shape, rate, time_base, crf, preset, gop, rotation)
      if timestamps is None:
        pts, seconds = n, n / float(rate)
      else:
        if n >= len(timestamps):
          raise ValueError("more frames than timestamps")
        seconds = float(timestamps[n])
        pts = int(round(seconds * _VFR_CLOCK))
      while audio_chunks and audio_chunks[0].pts / sample_rate <= seconds:
        out.mux(as_.encode(audio_chunks.pop(0)))
      frame = av.VideoFrame.from_ndarray(img, format="rgb24")
      frame.pts = pts
      frame.time_base = time_base
      out.mux(vs.encode(frame))
    if vs is None:
      raise ValueError("no frames to write")
    if timestamps is not None and n + 1 != len(timestamps):
      raise ValueError(f"{n + 1} frames but {len(timestamps)} timestamps")
    out.mux(vs.encode(None))
    if as_ is not None:
      for chunk in audio_chunks:
        out.mux(as_.encode(chunk))
      out.mux(as_.encode(None))


def _video_stream(out, shape, rate, time_base, crf, preset, gop, rotation):
  h, w = shape[:2]
  vs = out.add_stream("libx264", rate=rate)
  vs.width, vs.height = w, h
  vs.pix_fmt = "yuv420p" if (w % 2 == 0 and h % 2 == 0) else "yuv444p"
  vs.time_base = time_base
  vs.codec_context.time_base = time_base
  if gop:
    vs.codec_context.gop_size = int(gop)
  vs.options = {"crf": str(crf), "preset": preset}
  if rotation:
    vs.set_display_rotation(int(rotation))
  return vs


def _audio_frames(samples, sample_rate, n=1024):
  # AAC codes 1024 samples a frame; a short last frame is allowed and keeps the stored
  # duration exact (the decoder still returns padding, which the reader trims).
  chunks = []
  for start in range(0, len(samples), n):
    chunk = np.ascontiguousarray(samples[start:start + n])
    frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
    frame.sample_rate = sample_rate
    frame.pts = start
    frame.time_base = fractions.Fraction(1, sample_rate)
    chunks.append(frame)
  return chunks
