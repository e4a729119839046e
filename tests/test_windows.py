"""The segments view's windows: every frame covered, the last window ending on the last frame,
rows cut from a stored example frame for frame, and a known segment surviving windowing and
stitching (input/windows.py, input/views.py)."""
import ml_collections
import numpy as np
import pytest

from fakedetect_jax.errors import DataError
from fakedetect_jax.evaluate import localization
from fakedetect_jax.input import views, windows
from fakedetect_jax.media import segments as segments_lib

FPS = 25.0


@pytest.mark.parametrize("n,window,stride", [(1, 8, 4), (8, 8, 4), (9, 8, 4), (50, 16, 8),
                                             (51, 16, 5), (100, 64, 64), (10, 3, 1)])
def test_windows_cover_every_frame_and_end_on_the_last(n, window, stride):
  first = windows.starts(n, window, stride)
  assert first[0] == 0 and np.all(np.diff(first) > 0)
  assert np.all(np.diff(first) <= stride)  # no frame left between two windows
  covered = np.zeros(n, int)
  for s in first:
    covered[s:s + window] += 1
  assert covered.min() >= 1
  if n >= window:
    assert first[-1] + window == n  # the last window is the video's last frames, no padding
  assert windows.num_windows(n, window, stride) == len(first)


def test_bad_window_settings_are_refused_with_their_names():
  with pytest.raises(DataError, match="data.window_stride"):
    windows.starts(100, 16, 17)  # a stride past the window would skip frames
  with pytest.raises(DataError, match="has 3 windows"):
    windows.span(40, 16, 12, 3)


def test_stitch_gives_back_outputs_that_agree_and_weights_the_centre():
  n, window, stride = 37, 10, 4
  truth = np.random.default_rng(0).normal(size=(n, 3))
  first = windows.starts(n, window, stride)
  per_window = np.stack([truth[s:s + window] for s in first])
  np.testing.assert_allclose(windows.stitch(per_window, n, window, stride), truth, atol=1e-12)
  # Where windows disagree, a frame follows the window in which it lies nearer the centre.
  noisy = per_window.copy()
  noisy[0, -1] += 100.0  # frame 9: last frame of window 0, near the centre of window 1 (4..13)
  stitched = windows.stitch(noisy, n, window, stride)
  w = windows.weights(window)
  assert w[0] == pytest.approx(windows.EDGE_WEIGHT) and w[window // 2] > 0.85
  covering = [(k, 9 - s) for k, s in enumerate(first) if s <= 9 < s + window]
  expected = truth[9, 0] + 100.0 * w[9] / sum(w[i] for _, i in covering)
  assert stitched[9, 0] == pytest.approx(expected)
  with pytest.raises(DataError, match="expected outputs"):
    windows.stitch(per_window[:-1], n, window, stride)


def _dense_example(n, segments):
  """A stored dense example (as the localization builders write it) with frame labels."""
  rng = np.random.default_rng(n)
  times = np.arange(n) / FPS
  labels = segments_lib.frame_labels(np.asarray(segments).reshape(-1, 2), times, fps=FPS)
  return {
      "frames": rng.integers(0, 255, (n, 12, 12, 3), dtype=np.uint8),
      "mouth": rng.integers(0, 255, (n, 6, 6), dtype=np.uint8),
      "audio": rng.normal(size=(n, 4, 80)).astype(np.float32),
      "audio_valid": np.ones((n, 4), bool),
      "has_audio": np.bool_(True),
      "face_found": np.ones(n, bool),
      "frame_label": labels,
      "frame_label_visual": labels,
      "frame_label_audio": np.zeros(n, np.int8),
  }


def test_segments_rows_are_the_stored_frames_and_a_known_segment_survives_stitching():
  segment = [1.2, 2.04]  # frames 30 .. 50
  n = 83
  example = _dense_example(n, [segment])
  data = ml_collections.ConfigDict(
      dict(view="segments", image_size=12, window=32, window_stride=16))
  k = views.rows_per_video(n, data)
  first = windows.starts(n, 32, 16)
  assert k == len(first) == 5
  rows = views.to_model_inputs(example, data)  # every row stacked
  assert rows["frames"].shape == (k, 32, 12, 12, 3) and rows["audio"].shape == (k, 32, 4, 80)
  for r, s in enumerate(first):
    np.testing.assert_array_equal(rows["frames"][r], example["frames"][s:s + 32])
    np.testing.assert_array_equal(rows["mouth"][r], example["mouth"][s:s + 32])
    np.testing.assert_array_equal(rows["audio"][r], example["audio"][s:s + 32])
    assert rows["frame_valid"][r].all()
  targets = np.stack([views.row_targets(example, data, r)["frame_labels"] for r in range(k)])
  assert targets.shape == (k, 32, 3) and targets.dtype == np.int32
  stitched = windows.stitch(targets.astype(np.float64), n, 32, 16)
  np.testing.assert_array_equal(stitched[:, 0], example["frame_label"])
  found = localization.segments_from_frame_scores(stitched[:, 0], FPS, thresholds=(0.5,))
  assert found.shape == (1, 3)
  np.testing.assert_allclose(found[0, 1:], segment, atol=1e-9)


def test_a_video_shorter_than_one_window_is_padded_and_marked():
  example = _dense_example(20, [[0.2, 0.4]])
  data = ml_collections.ConfigDict(dict(view="segments", image_size=24, window=32))
  row = views.to_model_inputs(example, data, 0)
  assert row["frames"].shape == (32, 24, 24, 3)  # resized to data.image_size
  np.testing.assert_array_equal(row["frame_valid"], np.arange(32) < 20)
  assert not row["face_found"][20:].any() and not row["audio_valid"][20:].any()
  assert (row["frames"][20:] == 0).all()
  labels = views.row_targets(example, data, 0)["frame_labels"]
  np.testing.assert_array_equal(labels[:20, 0], example["frame_label"])
  assert (labels[20:] == 0).all()
  with pytest.raises(DataError, match="per-frame labels"):
    views.row_targets({"frames": example["frames"]}, data, 0)
