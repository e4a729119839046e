"""Audio: decode, resample, trim codec padding, log-mel windows aligned to frame timestamps."""
import numpy as np
import pytest

from fakedetect_jax.media import MediaConfig, audio, encode_video_with_report, write_video
from media_testlib import index_frames
from media_testlib import media_dir  # noqa: F401 (fixture)

N, FPS = 40, 25.0
CLICK_FRAMES = (5, 17, 30)
# Every frame, tiny crops: these tests are about audio; detection finds no face and says so.
CFG = MediaConfig(num_frames=N, sampling="stride", face_size=32, mouth_size=16, landmarks=False)


def clicks(times, sr, seconds):
  """Silence with a 4 ms noise burst starting at each time."""
  rng = np.random.default_rng(0)
  y = rng.normal(0, 1e-4, int(seconds * sr)).astype(np.float32)
  for t in times:
    i = int(round(t * sr))
    y[i:i + int(0.004 * sr)] += rng.uniform(-0.8, 0.8, int(0.004 * sr)).astype(np.float32)
  return y


@pytest.fixture(scope="module")
def videos(media_dir):
  out = {}
  frames = index_frames(N, h=64, w=96)
  times = np.arange(N) / FPS
  for sr in (16000, 48000):
    path = str(media_dir / f"clicks_{sr}.mp4")
    write_video(
        path, frames, fps=FPS, audio=clicks(times[list(CLICK_FRAMES)], sr, N / FPS), sample_rate=sr)
    out[sr] = (path, times)
  rng = np.random.default_rng(5)
  vtimes = np.round(np.cumsum(np.r_[0, rng.uniform(0.02, 0.07, N - 1)]), 4)
  path = str(media_dir / "clicks_vfr.mp4")
  write_video(
      path,
      frames,
      fps=FPS,
      timestamps=vtimes,
      audio=clicks(vtimes[list(CLICK_FRAMES)], 16000, vtimes[-1] + 0.05))
  out["vfr"] = (path, vtimes)
  path = str(media_dir / "silent.mp4")
  write_video(path, frames[:10], fps=FPS)
  out["none"] = (path, None)
  return out


@pytest.mark.parametrize("key", [16000, 48000, "vfr"])
def test_clicks_land_on_their_frames_within_one_hop(videos, key):
  path, times = videos[key]
  ex, report = encode_video_with_report(path, CFG)
  assert ex["has_audio"] and ex["audio_valid"][5:-10].all()  # windows off the ends: invalid
  np.testing.assert_allclose(ex["timestamps"], times, atol=1e-3)
  w = CFG.audio_window
  energy = ex["audio"].mean(-1)  # [T, W] mean log-mel per window slot
  for f in CLICK_FRAMES:
    peak = int(np.argmax(energy[f]))
    assert abs(peak - w // 2) <= 1, (f, peak)
    assert energy[f, w // 2] > energy[f].min() + 5  # a real click, far above the silence
  quiet = [f for f in range(N) if min(abs(times[f] - times[c]) for c in CLICK_FRAMES) > 0.15]
  assert (energy[quiet, w // 2] < energy[list(CLICK_FRAMES), w // 2].min() - 5).all()


@pytest.mark.parametrize("key", [16000, 48000])
def test_codec_padding_is_trimmed(videos, key):
  path, _ = videos[key]
  track = audio.read_audio(path, 16000)
  assert len(track.samples) == int(N / FPS * 16000)  # AAC alone returns whole 1024 frames
  assert abs(track.start) < 1e-3
  _, report = encode_video_with_report(path, CFG)
  assert report.audio_seconds == pytest.approx(N / FPS, abs=1e-3)


def test_log_mel_shape_and_hop():
  cfg = MediaConfig()
  mel = audio.log_mel(np.zeros(16000, np.float32), cfg)
  assert mel.shape == (101, 80) and mel.dtype == np.float32  # centred frames, 10 ms hop
  win, valid = audio.windows(mel, 0.0, np.array([0.0, 0.5, 1.0]), cfg)
  assert win.shape == (3, cfg.audio_window, 80)
  assert not valid[0, :cfg.audio_window // 2].any() and valid[1].all()


def test_video_without_audio_is_flagged_not_an_error(videos):
  path, _ = videos["none"]
  ex, report = encode_video_with_report(path, CFG.replace(num_frames=10))
  assert not ex["has_audio"] and not ex["audio_valid"].any()
  assert ex["audio"].shape == (10, CFG.audio_window, CFG.n_mels)
  assert report.audio_seconds == 0 and not any("audio" in w for w in report.warnings)
