"""LAV-DF builder on a replica: official splits, the dense media setting (every decodable
frame), segments and per-frame labels against a hand computation, metadata quirks clipped, bad
metadata skipped with a counted warning naming each file, and a segment past the decoded end
skipped while encoding."""
import shutil
import warnings

import av
import numpy as np
import pytest
import tensorflow_datasets as tfds

from fakedetect_jax import builder_lib
from fakedetect_jax.input import sources
from fakedetect_jax.testing import contract, replicas

lavdf = sources.import_builder_module("lavdf")
MEDIA = "face_size=64,mouth_size=32"


class LavdfTest(contract.ReplicaBuilderTest):
  DATASET_CLASS = lavdf.Builder
  CONFIG = "dense"
  MEDIA = MEDIA

  @classmethod
  def write_replica(cls, manual_dir):
    return replicas.write_lavdf(manual_dir)


@pytest.fixture(scope="module")
def replica(tmp_path_factory):
  return replicas.write_lavdf(str(tmp_path_factory.mktemp("lavdf") / "manual"))


@pytest.fixture(scope="module")
def built(replica, tmp_path_factory):
  builder = lavdf.Builder(
      data_dir=str(tmp_path_factory.mktemp("data")), config="dense", media=MEDIA, workers=1)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=replica.manual_dir))
  examples = {}
  for split in builder.info.splits:
    source = builder.as_data_source(split)
    for i in range(len(source)):
      ex = source[i]
      examples[ex["video_id"].decode()] = (split, ex)
  return builder, examples


def test_index_keeps_official_splits_and_skips_bad_metadata_with_one_warning(replica):
  with pytest.warns(builder_lib.MetadataWarning) as caught:
    items = lavdf.index(replica.manual_dir)
  assert {it.video_id for it in items} == set(replica.videos)
  assert {it.video_id: it.split for it in items} == {k: v.split for k, v in replica.videos.items()}
  message = " ".join(str(w.message) for w in caught)
  assert f"skipped {len(replica.bad_metadata)} of " in message
  # The warning shows the first three; the log has every one (checked in the next test).
  shown = [f for f in replica.bad_metadata if f in message]
  assert len(shown) == 3 and all(replica.bad_metadata[f] in message for f in shown)


def test_every_skipped_entry_is_logged_with_its_reason(replica, caplog):
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    lavdf.index(replica.manual_dir)
  logged = "\n".join(r.getMessage() for r in caplog.records)
  for file, why in replica.bad_metadata.items():
    line = next((l for l in logged.splitlines() if file in l), "")
    assert why in line, (file, why, logged)


def test_segments_and_frame_labels_by_hand(replica, built):
  _, examples = built
  by_hand = {  # frame t (25 fps) is fake when (t + 0.5) / 25 lies in [start, end)
      "train/000002.mp4": (range(10, 20), range(10, 20)),  # [0.40, 0.80], both
      "train/000003.mp4": ((), range(25, 32)),  # audio [1.00, 1.284] clipped to 1.28
      "train/000004.mp4": (list(range(5, 12)) + list(range(22, 27)), ()),  # [.2,.5], [.9,1.1]
      "dev/000006.mp4": (range(12, 22), ()),  # [0.50, 0.90]
      "test/000008.mp4": (range(2, 7), range(2, 7)),  # [0.10, 0.30]
  }
  for video_id, (split, ex) in examples.items():
    rel = video_id[len("LAV-DF/"):]
    t = int(ex["n_frames"])
    visual, audio = np.zeros(t, np.int8), np.zeros(t, np.int8)
    v_idx, a_idx = by_hand.get(rel, ((), ()))
    visual[list(v_idx)], audio[list(a_idx)] = 1, 1
    np.testing.assert_array_equal(ex["frame_label_visual"], visual, err_msg=rel)
    np.testing.assert_array_equal(ex["frame_label_audio"], audio, err_msg=rel)
    np.testing.assert_array_equal(ex["frame_label"], np.maximum(visual, audio), err_msg=rel)
    truth = replica.segments[video_id]
    for key, want in truth.items():
      np.testing.assert_allclose(
          ex[key], np.asarray(want, np.float32).reshape(-1, 2), atol=1e-6, err_msg=key)
    assert ex["modify_type"].decode() == replica.modify_type[video_id]
    assert ex["method"].decode() == replica.modify_type[video_id]


def test_dense_frames_are_every_decodable_frame(replica, built):
  """Against the file itself: as many frames as decode (the metadata's video_frames of
  train/000004 says one more), at the decoder's own times."""
  _, examples = built
  for video_id, (_, ex) in examples.items():
    with av.open(f"{replica.manual_dir}/{video_id}") as container:
      times = [float(f.pts * f.time_base) for f in container.decode(video=0)]
    assert int(ex["n_frames"]) == len(times) == len(ex["frames"]) == len(ex["audio"])
    np.testing.assert_allclose(ex["timestamps"], np.asarray(times) - times[0], atol=1e-6)
    np.testing.assert_array_equal(ex["frame_indices"], np.arange(len(times)))
    assert np.asarray(ex["frames"]).shape[1:] == (64, 64, 3) and ex["audio"].shape[1:] == (4, 80)
    assert ex["face_found"].all() and ex["has_audio"]


def test_a_segment_past_the_decoded_end_is_skipped_while_encoding(replica, built):
  builder, examples = built
  failed = {path[len(replica.manual_dir) + 1:]: why for path, why in builder.encode_summary.failed}
  assert list(failed) == replica.corrupt == ["LAV-DF/dev/000012.mp4"]
  why = failed["LAV-DF/dev/000012.mp4"]
  assert "\n" not in why and "dev/000012.mp4" in why and "past the video's end (1.280 s)" in why
  assert "LAV-DF/dev/000012.mp4" not in examples
  assert builder.info.splits["validation"].num_examples == 2  # the rest of the split is kept


def test_missing_metadata_fails_naming_the_layout(replica, tmp_path):
  manual = tmp_path / "manual"
  shutil.copytree(replica.manual_dir, manual)
  (manual / "LAV-DF" / "metadata.json").unlink()
  with pytest.raises(builder_lib.LayoutError) as err:
    lavdf.index(str(manual))
  assert "\n" not in str(err.value) and "metadata.json" in str(err.value)
