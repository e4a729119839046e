"""The embedded synthetic audio-visual dataset, built with real TFDS from rendered mp4 files."""
import collections
import os

import numpy as np
import pytest
import tensorflow_datasets as tfds

from fakedetect_jax.input import sources
from fakedetect_jax.media import MediaConfig, encode_video, write_video

sources.import_builder_module("synthetic_av")
from synthetic_av import render  # noqa: E402  (datasets/ is on sys.path now)


@pytest.fixture(scope="module")
def examples(synthetic_tiny):
  builder, _ = synthetic_tiny
  reloaded = tfds.builder_from_directory(builder.data_dir)
  out = {}
  for split in ("train", "validation", "test"):
    source = reloaded.as_data_source(split)  # array_record: random access, decoded with NumPy
    out[split] = [source[i] for i in range(len(source))]
  return out


def test_splits_are_disjoint_by_person_and_hold_every_method(examples):
  people = {s: {e["source_id"] for e in exs} for s, exs in examples.items()}
  assert not people["train"] & people["validation"]
  assert not people["train"] & people["test"]
  assert not people["validation"] & people["test"]
  for split, exs in examples.items():
    assert sorted({e["method"].decode() for e in exs}) == sorted(render.METHODS), split
    assert len(exs) == 2 * len(render.METHODS)  # tiny: 2 people a split, one video a method


def test_labels_follow_category_and_method(examples):
  for e in (e for exs in examples.values() for e in exs):
    method, category = e["method"].decode(), e["category"].decode()
    fake_video = method not in ("real", "voice")
    fake_audio = method == "voice" or method.endswith("-voice")
    assert e["video_label"] == fake_video and e["audio_label"] == fake_audio
    assert e["label"] == (fake_video or fake_audio)
    assert category == (("FakeVideo" if fake_video else "RealVideo") + "-" +
                        ("FakeAudio" if fake_audio else "RealAudio"))
    assert e["video_id"].decode().startswith(category + "/")


def test_real_detector_finds_the_face_and_audio_is_there(examples):
  found = [
      e["face_found"].mean()
      for exs in examples.values()
      for e in exs
      if e["method"].decode() in ("real", "voice", "lipsync")
  ]
  assert np.mean(found) > 0.95
  assert all(e["has_audio"] for exs in examples.values() for e in exs)
  assert np.shape(examples["test"][0]["frames"]) == (4, 64, 64, 3)  # a list of decoded frames


def test_mouth_follows_the_audio_except_in_lipsync(tmp_path):
  # Through the real pipeline: rendered mp4 -> media encoder's mouth crops and log-mel windows.
  identity = render.make_identity(7)
  cfg = MediaConfig(num_frames=30, face_size=64, mouth_size=32)
  corr = {}
  for method in ("real", "lipsync"):
    frames, audio = render.render(identity, method, 0, 3.0, 25, 144)
    path = str(tmp_path / f"{method}.mp4")
    write_video(path, frames, fps=25, audio=audio, sample_rate=render.SAMPLE_RATE)
    ex = encode_video(path, cfg)
    assert ex["mouth_found"].all()
    centre = ex["mouth"][:, 8:24, 8:24].astype(np.float32)
    openness = (centre < 70).mean(axis=(1, 2))
    w = ex["audio"].shape[1] // 2
    loudness = np.exp(ex["audio"][:, w - 2:w + 2]).sum(axis=(1, 2))
    corr[method] = np.corrcoef(openness, loudness)[0, 1]
  assert corr["real"] > 0.6, corr
  assert abs(corr["lipsync"]) < 0.4, corr


def test_rendering_is_deterministic_and_fakes_differ_from_real():
  identity = render.make_identity(3)
  a, audio_a = render.render(identity, "blend", 1, 0.4, 25, 96)
  b, audio_b = render.render(identity, "blend", 1, 0.4, 25, 96)
  np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(audio_a, audio_b)
  real, _ = render.render(identity, "real", 1, 0.4, 25, 96)
  assert np.abs(real.astype(int) - a.astype(int)).mean() > 2
  _, voice = render.render(identity, "voice", 1, 0.4, 25, 96)
  assert not np.allclose(voice, render.render(identity, "real", 1, 0.4, 25, 96)[1])


def test_rendered_videos_are_kept_as_mp4(synthetic_tiny):
  builder, data_dir = synthetic_tiny
  root = os.path.join(data_dir, "downloads", "synthetic_av", "tiny")
  files = [f for _, _, fs in os.walk(root) for f in fs]
  assert len(files) == 6 * len(render.METHODS) and all(f.endswith(".mp4") for f in files)
  counts = collections.Counter(os.path.basename(d) for d, _, fs in os.walk(root) for _ in fs)
  assert set(counts) == {
      "RealVideo-RealAudio", "RealVideo-FakeAudio", "FakeVideo-RealAudio", "FakeVideo-FakeAudio"
  }
