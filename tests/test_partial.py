"""synthetic_av's partial fakes (partial_render.py, configs partial / partial_tiny): windows drawn
as promised, per-frame labels against a hand computation from the stored segments, and the
manipulation really inside the labelled windows (and nowhere else)."""
import collections

import numpy as np
import pytest

from fakedetect_jax import builder_lib
from fakedetect_jax.input import sources
from fakedetect_jax.media import encode_video, write_video

synthetic_av = sources.import_builder_module("synthetic_av")
from synthetic_av import partial_render, render  # noqa: E402  (datasets/ is on sys.path now)

FPS = 25


@pytest.fixture(scope="module")
def built(synthetic_partial_tiny):
  builder, _ = synthetic_partial_tiny  # shared with tests/test_localization_run.py
  examples = {}
  for split in builder.info.splits:
    source = builder.as_data_source(split)
    examples[split] = [source[i] for i in range(len(source))]
  return builder, examples


def _all(examples):
  return [e for exs in examples.values() for e in exs]


def _labels_by_hand(segments, timestamps, fps):
  """Frame t is fake when its centre, halfway to the next frame (the last lasting 1 / fps),
  lies in some [start, end); 0.1 ms of slack for float32 times."""
  ts = [float(t) for t in timestamps]
  out = []
  for i, t in enumerate(ts):
    centre = (t + (ts[i + 1] if i + 1 < len(ts) else t + 1.0 / fps)) / 2
    out.append(int(any(s - 1e-4 <= centre < e - 1e-4 for s, e in np.asarray(segments))))
  return np.array(out, np.int8)


def test_splits_are_disjoint_by_identity_and_hold_every_method(built):
  _, examples = built
  people = {s: {e["source_id"] for e in exs} for s, exs in examples.items()}
  assert set(people) == {"train", "validation", "test"}
  assert not people["train"] & people["validation"]
  assert not people["train"] & people["test"]
  assert not people["validation"] & people["test"]
  assert [len(people[s]) for s in builder_lib.SPLITS] == [4, 2, 2]
  for split, exs in examples.items():
    methods = collections.Counter(e["method"].decode() for e in exs)
    assert methods == {m: len(people[split]) for m in ("real", "blend", "mixed")}, split


def test_frame_labels_follow_the_stored_segments_at_the_stored_times(built):
  _, examples = built
  for e in _all(examples):
    ts, fps = e["timestamps"], float(e["fps"])
    visual = _labels_by_hand(e["visual_fake_segments"], ts, fps)
    audio = _labels_by_hand(e["audio_fake_segments"], ts, fps)
    either = _labels_by_hand(e["fake_segments"], ts, fps)
    np.testing.assert_array_equal(e["frame_label_visual"], visual)
    np.testing.assert_array_equal(e["frame_label_audio"], audio)
    np.testing.assert_array_equal(e["frame_label"], either)
    np.testing.assert_array_equal(either, np.maximum(visual, audio))  # the union, stored


def test_fake_videos_have_one_to_three_windows_of_the_promised_length(built):
  _, examples = built
  for e in _all(examples):
    if not e["label"]:
      continue
    segs = np.asarray(e["fake_segments"], np.float64)
    assert 1 <= len(segs) <= 3, e["video_id"]
    lengths = segs[:, 1] - segs[:, 0]
    assert (lengths >= 0.3 - 1e-6).all() and (lengths <= 1.5 + 1e-6).all(), segs
    assert (segs[1:, 0] - segs[:-1, 1] >= 0.3 - 1e-6).all(), segs  # apart
    assert segs[0, 0] >= 0.3 - 1e-6 and segs[-1, 1] <= float(e["duration"]) - 0.3 + 1e-6
    # Whole frames at the video's rate.
    np.testing.assert_allclose(segs * FPS, np.round(segs * FPS), atol=1e-3)
    visual, audio = len(e["visual_fake_segments"]) > 0, len(e["audio_fake_segments"]) > 0
    assert (e["video_label"], e["audio_label"]) == (visual, audio)
    assert e["modify_type"].decode() == builder_lib.MODIFY_TYPES[visual + 2 * audio]
    method = e["method"].decode()
    assert {
        "blend": (True, False),
        "voice": (False, True)
    }.get(method, (visual, audio)) == (visual, audio), method
    if method == "mixed":
      assert len(segs) >= 2
    assert e["frame_label"].sum() > 0


def test_real_videos_have_no_segments_and_real_frame_labels(built):
  _, examples = built
  real = [e for e in _all(examples) if not e["label"]]
  assert len(real) == 8 and {e["method"].decode() for e in real} == {"real"}
  for e in real:
    for key in builder_lib.SEGMENT_KEYS:
      assert np.shape(e[key]) == (0, 2)
    for key in builder_lib.FRAME_LABEL_KEYS:
      assert not e[key].any()
    assert e["modify_type"].decode() == "real" and not e["video_label"] and not e["audio_label"]


def test_every_frame_is_stored_with_a_face(built):
  _, examples = built
  for e in _all(examples):
    n = int(e["n_frames"])
    assert n == len(e["frames"]) == len(e["timestamps"]) == len(e["frame_label"]) == 3 * FPS
    assert np.shape(e["frames"])[1:] == (64, 64, 3)
  assert np.mean(np.concatenate([e["face_found"] for e in _all(examples)])) > 0.98


def test_a_blend_window_is_where_its_labels_say(built, tmp_path):
  """The stored face crops against the crops of the video's real counterpart (same person,
  camera and noise), encoded the same way: apart inside the window, alike outside it."""
  builder, examples = built
  e = next(e for e in examples["test"] if e["method"].decode() == "blend")
  copy = int(e["video_id"].decode().rsplit("_", 1)[1].split(".")[0])
  frames, audio, segments, _ = synthetic_av.render_partial(
      builder.builder_config, e["source_id"].decode(), "blend", copy, windows=())
  assert not segments["fake_segments"]
  path = str(tmp_path / "counterpart.mp4")
  write_video(path, frames, fps=FPS, audio=audio, sample_rate=render.SAMPLE_RATE)
  real = encode_video(path, builder.builder_config.media)["frames"].astype(np.float32)
  stored = np.asarray(e["frames"], np.float32)
  diff = np.abs(stored - real).mean(axis=(1, 2, 3))
  inside = e["frame_label_visual"].astype(bool)
  assert inside.any() and (~inside).any()
  assert diff[inside].min() > 2 * diff[~inside].max(), (diff[inside], diff[~inside])


def test_each_kind_changes_only_its_stream_inside_its_window():
  identity = render.make_identity(11)
  windows = (partial_render.Window("voice", 9, 20), partial_render.Window("lipsync", 29, 40),
             partial_render.Window("blend", 50, 60))
  frames, audio, segments, _ = partial_render.render_video(identity, "mixed", 3, 3.0, FPS, 64,
                                                           windows)
  real_frames, real_audio, _, _ = partial_render.render_video(identity, "mixed", 3, 3.0, FPS, 64,
                                                              ())
  changed = np.abs(frames.astype(int) - real_frames).reshape(len(frames), -1).max(1) > 0
  want = np.zeros(len(frames), bool)
  want[29:40] = want[50:60] = True  # lipsync and blend; the voice window keeps the lips
  np.testing.assert_array_equal(changed, want)
  # lipsync touches the mouth only; blend the face around it too.
  moved = np.abs(frames.astype(int) - real_frames).max(-1) > 0
  assert moved[29:40].mean() < 0.2 * moved[50:60].mean()
  spliced = np.flatnonzero(audio != real_audio)
  samples = render.SAMPLE_RATE // FPS
  assert spliced.min() >= 9 * samples and spliced.max() < 20 * samples
  assert (audio[9 * samples:20 * samples] != real_audio[9 * samples:20 * samples]).mean() > 0.5
  assert segments == {
      "fake_segments": [[0.36, 0.8], [1.16, 1.6], [2.0, 2.4]],
      "visual_fake_segments": [[1.16, 1.6], [2.0, 2.4]],
      "audio_fake_segments": [[0.36, 0.8]],
  }


@pytest.mark.parametrize("duration", [3.0, 4.0])
def test_windows_drawn_from_the_seed_keep_their_promises(duration):
  n = int(duration * FPS)
  counts = collections.Counter()
  for seed in range(40):
    for method in partial_render.METHODS:
      windows = partial_render.draw_windows(method, seed, 5, duration, FPS)
      assert windows == partial_render.draw_windows(method, seed, 5, duration, FPS)
      if method == "real":
        assert windows == ()
        continue
      counts[len(windows)] += 1
      kinds = [w.kind for w in windows]
      assert kinds == [method] * len(windows) or (method == "mixed" and
                                                  len(set(kinds)) == len(kinds) >= 2)
      for w in windows:
        assert 0.3 <= (w.stop - w.start) / FPS <= 1.5
      assert windows[0].start / FPS >= 0.3 and (n - windows[-1].stop) / FPS >= 0.3
      assert all((b.start - a.stop) / FPS >= 0.3 for a, b in zip(windows, windows[1:]))
  assert set(counts) == {1, 2, 3}
