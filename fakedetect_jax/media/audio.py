"""Audio track: PyAV decode -> mono 16 kHz -> codec padding trimmed -> log-mel windows per frame.

librosa.load cannot read mp4 here (no ffmpeg binary), so PyAV decodes and resamples and
librosa only computes the mel spectrogram from the array. Times are on the video clock:
seconds since the first video frame, so audio and frames line up by timestamps, not by
assuming both streams start together.
"""
import dataclasses

import av
import numpy as np

from fakedetect_jax.media import decode, errors

LOG_FLOOR = 1e-6  # log-mel = log(mel power + LOG_FLOOR); silence and padding sit at log(1e-6)


@dataclasses.dataclass
class Track:
  samples: np.ndarray  # float32 [N] mono at sample_rate
  start: float  # time of samples[0], seconds on the video clock
  sample_rate: int


class Collector:
  """Decodes the packets of one audio stream as they are demuxed (alongside the video)."""

  def __init__(self, stream, sample_rate=16000, video_start=0.0):
    self.sample_rate, self.video_start = sample_rate, video_start
    # The stream's stated end, in seconds (None if not stated). Read now: the container may be
    # reopened (decode.Video) before the track is complete.
    self.end = None
    if stream.duration and stream.time_base:
      self.end = float(((stream.start_time or 0) + stream.duration) * stream.time_base)
    self.resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    self.chunks, self.first_pts, self.bad = [], None, 0

  def __call__(self, packet):
    try:
      frames = packet.decode()
      for frame in frames:
        if self.first_pts is None and frame.pts is not None:
          self.first_pts = float(frame.pts * frame.time_base)
        for out in self.resampler.resample(frame):
          self.chunks.append(out.to_ndarray().reshape(-1))
    except (av.error.FFmpegError, ValueError):
      self.bad += 1

  def track(self, path):
    """The decoded Track; AudioError when nothing could be decoded."""
    try:
      for out in self.resampler.resample(None):
        self.chunks.append(out.to_ndarray().reshape(-1))
    except (av.error.FFmpegError, ValueError):
      self.bad += 1
    if not self.chunks:
      raise errors.AudioError(path, f"no samples decoded ({self.bad} bad packets)")
    samples = np.concatenate(self.chunks).astype(np.float32, copy=False)
    start = (self.first_pts or 0.0) - self.video_start
    # AAC decodes whole 1024-sample frames: drop what lies past the stream's stated end.
    if self.end is not None:
      keep = int(round((self.end - self.video_start - start) * self.sample_rate))
      if 0 < keep < len(samples):
        samples = samples[:keep]
    return Track(samples, start, self.sample_rate)


def read_audio(path, sample_rate=16000, video_start=0.0):
  """Decode the first audio stream of a file on its own. Returns a Track, or None when the
    file has no audio; AudioError when a stream exists but yields no samples."""
  with decode.open_container(path) as container:
    if not container.streams.audio:
      return None
    collect = Collector(container.streams.audio[0], sample_rate, video_start)
    try:
      for packet in container.demux(container.streams.audio[0]):
        collect(packet)
    except av.error.FFmpegError:
      collect.bad += 1
    return collect.track(path)


def log_mel(samples, cfg, center=True):
  """float32 [n_frames, n_mels]; frame k is centred at k * hop seconds from samples[0]
    (center=False: starts there)."""
  import librosa  # lazy: heavy import, only needed with audio
  n_fft = int(round(cfg.win_seconds * cfg.sample_rate))
  mel = librosa.feature.melspectrogram(
      y=samples,
      sr=cfg.sample_rate,
      n_fft=n_fft,
      hop_length=cfg.hop_length,
      win_length=n_fft,
      n_mels=cfg.n_mels,
      center=center,
      power=2.0)
  return np.log(mel.T + LOG_FLOOR).astype(np.float32)


def mel_windows(samples, track_start, times, cfg):
  """`windows(log_mel(samples, cfg), track_start, times, cfg)`, computing only the mel frames
    the windows hold.

    A long video needs a few hundred mel frames around its sampled frames, while the whole
    spectrogram of a 10-minute track costs ~270 MB and seconds. Each mel frame depends only on
    the n_fft samples around its centre (zero beyond the track, as log_mel's centred STFT pads),
    so each run of consecutive frames is computed from its own stretch of samples.
    """
  w, hop = cfg.audio_window, cfg.hop_length
  n_fft = int(round(cfg.win_seconds * cfg.sample_rate))
  total = 1 + len(samples) // hop  # log_mel's frame count
  centre = np.round((np.asarray(times, np.float64) - track_start) / (hop / cfg.sample_rate))
  k = centre.astype(np.int64)[:, None] + np.arange(w)[None, :] - w // 2
  valid = (k >= 0) & (k < total)
  out = np.full(k.shape + (cfg.n_mels,), np.log(LOG_FLOOR), np.float32)
  need = np.unique(k[valid])
  if not len(need):
    return out, valid
  mel = np.empty((len(need), cfg.n_mels), np.float32)
  breaks = np.flatnonzero(np.diff(need) > 1) + 1
  for run in np.split(np.arange(len(need)), breaks):
    a, b = need[run[0]], need[run[-1]]
    lo, hi = a * hop - n_fft // 2, b * hop - n_fft // 2 + n_fft
    seg = np.zeros(hi - lo, np.float32)
    src = samples[max(lo, 0):min(hi, len(samples))]
    seg[max(lo, 0) - lo:max(lo, 0) - lo + len(src)] = src
    mel[run] = log_mel(seg, cfg, center=False)
  out[valid] = mel[np.searchsorted(need, k[valid])]
  return out, valid


def windows(mel, track_start, times, cfg):
  """Windows of cfg.audio_window mel frames centred on each time.

    Returns (float32 [T, W, n_mels], bool [T, W] valid). Frame k of `mel` is centred at
    track_start + k * hop; window slot j of frame t covers the mel frame centred nearest to
    times[t] + (j - W // 2) * hop. Slots outside the track hold log(LOG_FLOOR), marked invalid.
    """
  w = cfg.audio_window
  hop = cfg.hop_length / cfg.sample_rate
  centre = np.round((np.asarray(times, np.float64) - track_start) / hop).astype(np.int64)
  k = centre[:, None] + np.arange(w)[None, :] - w // 2
  valid = (k >= 0) & (k < len(mel))
  out = np.full(k.shape + (cfg.n_mels,), np.log(LOG_FLOOR), np.float32)
  out[valid] = mel[k[valid]]
  return out, valid


def empty(num_frames, cfg):
  w = cfg.audio_window
  return (np.full((num_frames, w, cfg.n_mels), np.log(LOG_FLOOR),
                  np.float32), np.zeros((num_frames, w), bool))


# Leading silence (AVH-Align, CVPR 2025: FakeAVCeleb and AV-Deepfake1M fakes tend to start with
# a short silence that alone separates them). A mel frame is silent when its power lies more than
# SILENCE_DB below the clip's own level, the LEVEL_PERCENTILE-th percentile of the power of its
# mel frames (a loud part of the speech, steadier than the maximum, which one click can set).
# 40 dB keeps breath, room noise and the quiet ends of words as sound (they sit 20-35 dB below
# speech) and takes digital silence (-120 dB here) and the codec's faint noise around it as
# silence.
SILENCE_DB = 40.0
LEVEL_PERCENTILE = 95.0
SILENCE_FLOOR_DB = -120.0  # the power of digital silence (clipped here)


def mel_power_db(log_mel):
  """Power of each mel frame of log-mel features [..., n_mels] (as `log_mel` makes them), in dB:
  10 log10 of the mel power summed over the bands, LOG_FLOOR taken off; digital silence and
  padding give SILENCE_FLOOR_DB."""
  power = np.maximum(np.exp(np.asarray(log_mel, np.float64)) - LOG_FLOOR, 0.0).sum(-1)
  return np.maximum(10.0 * np.log10(np.maximum(power, 1e-30)), SILENCE_FLOOR_DB)


def sound_mask(power_db, valid, silence_db=SILENCE_DB):
  """True where a valid mel frame holds sound: power within `silence_db` of the clip's level
  (the LEVEL_PERCENTILE-th percentile of the valid frames' power). A clip silent throughout
  has every valid frame at its own level: all sound, nothing to trim."""
  power_db, valid = np.asarray(power_db), np.asarray(valid, bool)
  if not valid.any():
    return np.zeros(power_db.shape, bool)
  level = np.percentile(power_db[valid], LEVEL_PERCENTILE)
  return valid & (power_db >= level - silence_db)
