"""Clean studies (issue 14): method filters hold for validation as well as training, and the
leading-silence guard (AVH-Align, CVPR 2025: fakes that start silent are told apart by that
alone) trims it before a model hears it, which the audio-visual study's silence-only row shows."""
import dataclasses

import numpy as np
import pytest

from fakedetect_jax import config_lib
from fakedetect_jax.errors import DataError
from fakedetect_jax.input import sources, views
from fakedetect_jax.media import audio as audio_lib
from fakedetect_jax.studies import evaluate_run, study as study_lib

FLOOR = np.float32(np.log(audio_lib.LOG_FLOOR))
SYNTHETIC_METHODS = {
    "real", "voice", "blend", "flicker", "lipsync", "blend-voice", "flicker-voice", "lipsync-voice"
}


def _data(data_dir, view="frames", **fields):
  c = config_lib.base_config()
  c.data.config, c.data.data_dir, c.data.image_size = "tiny", data_dir, 32
  c.data.view, c.data.clip_len = view, 4
  c.data.update(fields)
  return c.data


def test_train_methods_filter_training_and_validation_not_test(synthetic_tiny):
  _, data_dir = synthetic_tiny
  train, val, test = sources.open_run_splits(_data(data_dir, train_methods=("real", "blend")))
  assert set(train.methods) == set(val.methods) == {"real", "blend"}
  # Two people a split, one video of each method each: the validation videos of those methods.
  assert len(set(val.video_index)) == 4 and sorted(set(val.labels)) == [0, 1]
  assert set(test.methods) == SYNTHETIC_METHODS
  # val_methods replaces train_methods for validation; () keeps every method there.
  _, val_all, _ = sources.open_run_splits(_data(data_dir, train_methods=("real",), val_methods=()))
  assert set(val_all.methods) == SYNTHETIC_METHODS
  with pytest.raises(DataError) as err:
    sources.open_run_splits(_data(data_dir, train_methods=("Deepfakes",)))
  msg = str(err.value)
  assert "\n" not in msg and "'Deepfakes'" in msg and "'train'" in msg and "blend" in msg


def _example(onset, times, window=4, hop=0.01, level=0.0, rng=None):
  """A stored av example whose audio is silent (digital zero) before `onset` s and holds sound
  at about `level` dB after it; frame t's mouth, face crop and eye ratio all say t."""
  rng = rng or np.random.default_rng(0)
  times = np.asarray(times, np.float32)
  t = len(times)
  slots = views.slot_times(times, window, hop)
  power = 10**(level / 10) / 80 * rng.uniform(0.5, 2.0, (t, window, 80))  # per mel band
  loud = np.log(power + audio_lib.LOG_FLOOR).astype(np.float32)  # as media.audio.log_mel stores
  audio = np.where((slots >= onset)[..., None], loud, FLOOR)
  return {
      "frames": np.arange(t, dtype=np.uint8)[:, None, None, None] * np.ones((t, 8, 8, 3), np.uint8),
      "mouth": np.arange(t, dtype=np.uint8)[:, None, None] * np.ones((t, 6, 6), np.uint8),
      "audio": audio,
      "audio_valid": np.ones((t, window), bool),
      "timestamps": times,
      "face_found": np.ones(t, bool),
      "eye_aspect_ratio": np.arange(t, dtype=np.float32) / 10,
      "has_audio": np.bool_(True)
  }


def test_trim_cuts_both_streams_at_the_onset_and_pads_the_end():
  times = np.arange(6) * 0.04  # windows of 4 slots of 10 ms: [t - 0.02, t + 0.01]
  ex = _example(0.085, times)  # sound from the last slot (0.09) of frame 2's window on
  assert views.audio_onset(ex) == pytest.approx(0.09)
  out = views.trim_leading_silence(ex)
  assert {k: np.shape(v) for k, v in out.items()} == {k: np.shape(v) for k, v in ex.items()}
  # Frames 0-2 (times 0, 0.04, 0.08) lie before the onset: every stream moves up by 3 frames,
  # each frame with its own audio window (lips and voice stay aligned).
  np.testing.assert_array_equal(out["mouth"][:3, 0, 0], [3, 4, 5])
  np.testing.assert_array_equal(out["frames"][:3, 0, 0, 0], [3, 4, 5])
  np.testing.assert_array_equal(out["eye_aspect_ratio"][:3], ex["eye_aspect_ratio"][3:])
  np.testing.assert_array_equal(out["audio"][:3], ex["audio"][3:])
  assert out["audio_valid"][:3].all() and out["face_found"][:3].all()
  # The end is padded: the last crops repeated, no audio, no face, times continuing.
  assert not out["audio_valid"][3:].any() and (out["audio"][3:] == FLOOR).all()
  assert not out["face_found"][3:].any()
  np.testing.assert_array_equal(out["mouth"][3:, 0, 0], [5, 5, 5])
  np.testing.assert_allclose(out["timestamps"], np.arange(3, 9) * 0.04, atol=1e-6)
  # A frame at the onset itself stays first: sound from 0.08 keeps frame 2.
  np.testing.assert_array_equal(
      views.trim_leading_silence(_example(0.075, times))["mouth"][:4, 0, 0], [2, 3, 4, 5])
  # The views cut their rows from the trimmed example; the frames view is never trimmed.
  data = config_lib.base_config().data
  data.view, data.clip_len, data.image_size, data.trim_leading_silence = "av", 3, 8, True
  rows = views.to_model_inputs(ex, data)
  np.testing.assert_array_equal(rows["mouth"][0, :, 0, 0], [3, 4, 5])
  np.testing.assert_array_equal(rows["audio_valid"], out["audio_valid"].reshape(2, 3, 4))
  data.trim_leading_silence = False
  np.testing.assert_array_equal(views.to_model_inputs(ex, data)["mouth"][0, :, 0, 0], [0, 1, 2])
  data.view, data.trim_leading_silence = "frames", True
  np.testing.assert_array_equal(views.to_model_inputs(ex, data)["image"][:, 0, 0, 0], np.arange(6))


def test_silence_is_relative_to_the_clips_own_level():
  times = np.arange(6) * 0.04
  quiet = _example(-1.0, times, level=-60.0)  # a quiet recording: sound throughout
  assert views.audio_onset(quiet) == pytest.approx(-0.02)
  np.testing.assert_array_equal(views.trim_leading_silence(quiet)["mouth"], quiet["mouth"])
  # A start 30 dB below the speech (room noise, breath) is sound; 50 dB below is silence.
  for below, onset in ((30, -0.02), (50, 0.12)):
    ex = _example(0.115, times)  # sound from 0.12 on
    start = views.slot_times(times, 4) < 0.115
    ex["audio"][start] = _example(-1.0, times, level=-below)["audio"][start]
    assert views.audio_onset(ex) == pytest.approx(onset), below
  # Nothing to cut: no audio track, or silence throughout.
  silent = _example(1.0, times)
  mute = dict(_example(0.115, times), has_audio=np.bool_(False))
  for ex in (silent, mute):
    out = views.trim_leading_silence(ex)
    assert all(np.array_equal(out[k], ex[k]) for k in ex)


class _Silenced:
  """Stored records of a split in which record r >= n is record r - n with its audio silent up to
  `until[r - n]` seconds (digital zero: log(LOG_FLOOR))."""

  def __init__(self, records, until):
    self.records, self.until = records, until

  def read(self, r, keys):
    n = len(self.until)
    ex = dict(self.records.read(r % n, tuple(keys) + ("timestamps",)))
    if r >= n:
      slots = views.slot_times(ex["timestamps"], ex["audio"].shape[1])
      ex["audio"] = np.where((slots < self.until[r - n])[..., None], FLOOR, ex["audio"])
    return ex


def _paired(source, until):
  """Every row of an audio-view source twice: as it is (real) and silenced (fake)."""
  n = len(source)
  return dataclasses.replace(
      source,
      records=_Silenced(source.records, until),
      row_record=np.arange(2 * n),
      row_part=np.zeros(2 * n, np.int32),
      labels=np.repeat([0, 1], n).astype(np.int32),
      video_index=np.arange(2 * n, dtype=np.int32),
      methods=np.repeat(["real", "silenced"], n),
      video_ids=np.arange(2 * n).astype(str),
      categories=None)


def test_silence_only_detector_sees_the_leading_silence_until_it_is_trimmed(synthetic_tiny):
  """Every video of the embedded set (48) twice: as it is (real) and with its first 0.3-0.5 s
  of audio silenced (fake). Pairing leaves the silence the one difference between the classes
  (the set's own fakes also differ in voice, which moves a loudness score by itself), and all
  three splits keep the trimmed AUC's spread around 0.5 small (one split's 16 pairs alone: about
  ±0.15)."""
  _, data_dir = synthetic_tiny
  data = _data(data_dir, "audio", trim_leading_silence=True)
  keys = evaluate_run.SILENCE_KEYS + ("has_audio",)
  videos = []
  for split in ("train", "validation", "test"):
    source = sources.open_split(data, split)
    n = len(source)
    pairs = _paired(source, 0.3 + 0.2 * np.arange(n) / (n - 1))
    stored = [pairs.records.read(r, keys) for r in range(2 * n)]
    # The model hears the trimmed audio: the audio view's rows are the trimmed examples'
    # windows, and a silenced video's first window now holds sound.
    for r in (0, n, 2 * n - 1):
      trimmed = views.trim_leading_silence(stored[r], source.hop_seconds)
      np.testing.assert_array_equal(pairs[r]["inputs"]["audio"], trimmed["audio"])
      np.testing.assert_array_equal(pairs[r]["inputs"]["audio_valid"], trimmed["audio_valid"])
      if r >= n:  # silenced: its first window as stored is digital silence, trimmed it sounds
        assert audio_lib.mel_power_db(stored[r]["audio"][0]).max() == audio_lib.SILENCE_FLOOR_DB
        assert audio_lib.mel_power_db(trimmed["audio"][0]).max() > -40
    for r, ex in enumerate(stored):
      videos.append({
          "id": f"{split}:{r}",
          "score": 0.5,
          "label": int(r >= n),
          "video_label": 0,
          "audio_label": int(r >= n),
          "method": str(pairs.methods[r]),
          **evaluate_run.silence_fields(ex, source.hop_seconds)
      })
  study = study_lib.load_study(f"{study_lib.REPO}/experiments/studies/audio_visual.py")
  from fakedetect_jax import fusion
  result = study.one_result([{"eval": "test", "branch": "audio", "videos": videos}], fusion)
  untrimmed = result["silence-only, untrimmed"]["overall"]
  trimmed = result["silence-only, trimmed"]["overall"]
  assert untrimmed > 0.9, untrimmed
  assert 0.35 <= trimmed <= 0.65, trimmed
  assert result["silence-only, trimmed"]["RealVideo-FakeAudio"] == trimmed
