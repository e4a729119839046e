"""Re-encodings of the real test media (fakedetect_jax.testing.real_media) into the containers,
codecs and oddities met in the wild, written with PyAV: short and small, each in well under a
second.

    frames, fps = clip(real_media)                 # the first 2.5 s of the face video, 320x180
    samples, rate = speech(real_media)             # real speech, mono float32
    write(path, frames, fps, vcodec="libvpx-vp9", audio=samples, audio_rate=rate,
          out_rate=48000, layout="stereo", acodec="libopus")

CASES names each case: the keyword arguments of `write` beyond the frames and audio.
"""
import fractions

import av
import numpy as np

FACE_VIDEO = "videos/WolfgangLanger_Pexels.mp4"  # one face, frontal, in every frame
SPEECH = "speech/arctic_a0007.wav"  # 16 kHz mono speech, 4 s
SPEECH_8K = "speech/hts1a.wav"  # 8 kHz mono speech, 3 s
_VFR_CLOCK = 90000

# name -> (file name, write() keywords): containers and codecs, each with the speech track at
# another rate and layout.
CASES = {
    "mov_h264_aac": ("clip.mov", dict(acodec="aac")),
    "webm_vp8_vorbis": ("clip_vp8.webm",
                        dict(vcodec="libvpx", acodec="vorbis", out_rate=44100, layout="stereo")),
    "webm_vp9_opus": ("clip_vp9.webm",
                      dict(vcodec="libvpx-vp9", acodec="libopus", out_rate=48000, layout="stereo")),
    "avi_mjpeg_pcm": ("clip_mjpeg.avi", dict(vcodec="mjpeg", acodec="pcm_s16le", out_rate=8000)),
    "avi_mpeg4_pcm": ("clip_mpeg4.avi", dict(vcodec="mpeg4", acodec="pcm_s16le", out_rate=48000)),
    "mkv_h264_aac": ("clip_aac.mkv", dict(acodec="aac", out_rate=44100)),
    "mkv_h264_flac": ("clip_flac.mkv", dict(acodec="flac", layout="stereo")),
    "mp4_vfr": ("clip_vfr.mp4", dict(acodec="aac", vfr=True)),
}

# Real codec options for speed: every case is made in well under a second.
_FAST = {
    "libx264": {
        "preset": "ultrafast",
        "crf": "23"
    },
    "libvpx": {
        "deadline": "realtime",
        "cpu-used": "8",
        "b": "600k"
    },
    "libvpx-vp9": {
        "deadline": "realtime",
        "cpu-used": "8",
        "row-mt": "1",
        "b": "600k"
    },
    "mpeg4": {
        "qscale": "4"
    },
    "mjpeg": {
        "qscale": "4"
    },
}
_PIX_FMT = {"mjpeg": "yuvj420p"}
_AUDIO_OPTIONS = {"vorbis": {"strict": "experimental"}}  # FFmpeg's own encoder: stereo only


def clip(root, name=FACE_VIDEO, seconds=2.5, size=(320, 180)):
  """The first `seconds` of a real video as RGB frames uint8 [T,H,W,3] at `size` (w, h),
    and its frame rate."""
  frames = []
  with av.open(str(root / name)) as c:
    stream = c.streams.video[0]
    fps = float(stream.average_rate)
    for frame in c.decode(stream):
      if frame.time >= seconds:
        break
      frames.append(frame.to_ndarray(width=size[0], height=size[1], format="rgb24"))
  return np.stack(frames), fps


def speech(root, name=SPEECH):
  """(float32 mono samples, sample rate) of a real speech file."""
  with av.open(str(root / name)) as c:
    stream = c.streams.audio[0]
    chunks = [f.to_ndarray().reshape(-1) for f in c.decode(stream)]
    rate = stream.rate
  samples = np.concatenate(chunks)
  if samples.dtype == np.int16:
    samples = samples.astype(np.float32) / 32768.0
  return samples.astype(np.float32), rate


def resample(samples, rate, out_rate, layout="mono"):
  """Mono float32 samples at `rate` -> float32 [channels, N] at out_rate (PyAV's swresample).
    Stereo gets a right channel at half the level, so a downmix can be told from a copy."""
  res = av.AudioResampler(format="fltp", layout="mono", rate=out_rate)
  frame = av.AudioFrame.from_ndarray(samples[None, :], format="fltp", layout="mono")
  frame.sample_rate, frame.pts = rate, 0
  out = np.concatenate([f.to_ndarray() for f in res.resample(frame) + res.resample(None)], 1)
  if layout == "stereo":
    out = np.concatenate([out, 0.5 * out])
  return np.ascontiguousarray(out, np.float32)


def vfr_times(n, fps, seed=0):
  """n increasing timestamps (s) with uneven gaps, from 0.4 to 1.6 frame periods."""
  gaps = np.random.default_rng(seed).uniform(0.4, 1.6, n - 1) / fps
  return np.round(np.r_[0.0, np.cumsum(gaps)] * _VFR_CLOCK) / _VFR_CLOCK


def write(path,
          frames,
          fps,
          *,
          vcodec="libx264",
          pix_fmt=None,
          rotation=0,
          rotate_tag=None,
          vfr=False,
          audio=None,
          audio_rate=16000,
          out_rate=None,
          layout="mono",
          acodec=None):
  """Encode RGB frames (stored as given) and optional mono speech into `path`; the container
    follows the extension. rotation: display rotation (matrix), degrees counter-clockwise;
    rotate_tag: a legacy `rotate` metadata tag instead (clockwise degrees). vfr: frames
    at `vfr_times` instead of 1/fps apart. audio: mono float32 at audio_rate, written at
    out_rate (default: audio_rate) in `layout` with `acodec`. Returns the frame times (s)."""
  path = str(path)
  n, h, w = frames.shape[:3]
  times = vfr_times(n, fps) if vfr else np.arange(n) / fps
  rate = fractions.Fraction(fps).limit_denominator(1001)
  tb = fractions.Fraction(1, _VFR_CLOCK) if vfr else 1 / rate
  with av.open(path, "w") as out:
    vs = out.add_stream(vcodec, rate=rate, options=dict(_FAST.get(vcodec, {})))
    vs.width, vs.height = w, h
    vs.pix_fmt = pix_fmt or _PIX_FMT.get(vcodec, "yuv420p")
    vs.time_base = vs.codec_context.time_base = tb
    if rotation:
      vs.set_display_rotation(int(rotation))
    if rotate_tag is not None:
      vs.metadata["rotate"] = str(rotate_tag)
    chunks = []
    if audio is not None:
      out_rate = out_rate or audio_rate
      acodec = acodec or "aac"
      as_ = out.add_stream(
          acodec, rate=out_rate, layout=layout, options=dict(_AUDIO_OPTIONS.get(acodec, {})))
      pcm = resample(audio, audio_rate, out_rate, layout)
      # PyAV converts each frame to the codec's sample format and frame size.
      for start in range(0, pcm.shape[1], 1024):
        part = np.ascontiguousarray(pcm[:, start:start + 1024])
        frame = av.AudioFrame.from_ndarray(part, format="fltp", layout=layout)
        frame.sample_rate, frame.pts = out_rate, start
        frame.time_base = fractions.Fraction(1, out_rate)
        chunks.append(frame)
    for img, t in zip(frames, times):
      while chunks and chunks[0].pts / out_rate <= t:
        out.mux(as_.encode(chunks.pop(0)))
      frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
      frame.pts, frame.time_base = int(round(t / tb)), tb
      out.mux(vs.encode(frame))
    out.mux(vs.encode(None))
    if audio is not None:
      for chunk in chunks:
        out.mux(as_.encode(chunk))
      out.mux(as_.encode(None))
  return times


def rotate_stored(frames, rotation):
  """Coded frames which, shown with display rotation `rotation` (ccw degrees), are `frames`."""
  return np.ascontiguousarray(np.rot90(frames, -(rotation // 90), axes=(1, 2)))


def cut(src, dst, fraction=None, size=None):
  """Copy the first `fraction` of src (or `size` bytes) to dst: a download cut short."""
  raw = open(src, "rb").read()
  open(dst, "wb").write(raw[:int(len(raw) * fraction) if size is None else size])
  return dst


def moov_span(path):
  """(offset, size) of the top-level moov atom of an mp4/mov file."""
  raw = open(path, "rb").read()
  off = 0
  while off + 8 <= len(raw):
    size, kind = int.from_bytes(raw[off:off + 4], "big"), raw[off + 4:off + 8]
    if size == 1:
      size = int.from_bytes(raw[off + 8:off + 16], "big")
    if kind == b"moov":
      return off, size
    if size < 8:
      break
    off += size
  raise ValueError(f"{path}: no moov atom")
