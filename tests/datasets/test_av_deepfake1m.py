"""AV-Deepfake1M builder on a replica: validation carved from train by identity, the public val
as test, the hidden test files as an unlabelled `submission` split, segments and per-frame
labels against a hand computation, bad metadata skipped with a counted warning naming each file,
and a Beam build (the path a 1M-video build takes) with the direct runner."""
import os
import shutil
import warnings

import numpy as np
import pytest

from fakedetect_jax import builder_lib
from fakedetect_jax.input import sources
from fakedetect_jax.testing import contract, replicas

avdf = sources.import_builder_module("av_deepfake1m")
MEDIA = "face_size=64,mouth_size=32"
ROOT = "AV-Deepfake1M"


class AvDeepfake1mTest(contract.ReplicaBuilderTest):
  """The contract on a download without the hidden test files (train and val only): its
    check reads labels by class name, which a hidden label (-1) does not have; the submission
    split is checked on its own below."""
  DATASET_CLASS = avdf.Builder
  CONFIG = "dense"
  MEDIA = MEDIA

  @classmethod
  def write_replica(cls, manual_dir):
    return replicas.write_av_deepfake1m(manual_dir, hidden_test=False)


@pytest.fixture(scope="module")
def replica(tmp_path_factory):
  return replicas.write_av_deepfake1m(str(tmp_path_factory.mktemp("avdf") / "manual"))


@pytest.fixture(scope="module")
def built(replica, tmp_path_factory):
  """A Beam build (direct runner) of the replica with its hidden test files."""
  import apache_beam as beam
  import tensorflow_datasets as tfds
  builder = avdf.Builder(data_dir=str(tmp_path_factory.mktemp("data")), config="dense", media=MEDIA)
  options = beam.options.pipeline_options.PipelineOptions(
      ["--runner=DirectRunner", "--direct_num_workers=1", "--direct_running_mode=in_memory"])
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(
            manual_dir=replica.manual_dir, beam_options=options))
  examples = {}
  for split in builder.info.splits:
    source = builder.as_data_source(split)
    for i in range(len(source)):
      ex = source[i]
      examples[ex["video_id"].decode()] = (split, ex)
  return builder, examples


def test_validation_is_carved_from_train_by_identity(replica):
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    items = avdf.index(replica.manual_dir)
  assert {it.video_id for it in items} == set(replica.videos)
  split_of = {}
  for it in items:
    assert it.source_id == it.video_id.split("/")[2]  # AV-Deepfake1M/<folder>/<identity>/...
    split_of.setdefault(it.source_id, set()).add(it.split)
  assert all(len(s) == 1 for s in split_of.values())
  # Pinned: the 4 train identities by md5("av_deepfake1m" + id), 5% (at least one) validation.
  assert {
      k: s.pop() for k, s in split_of.items()
  } == {
      "id00001": "train",
      "id00002": "validation",
      "id00003": "train",
      "id00004": "train",
      "id00005": "test",
      "id00006": "submission",
      "id00007": "submission"
  }
  assert all(it.video_id.startswith(f"{ROOT}/val/") == (it.split == "test") for it in items)


def test_bad_metadata_skipped_with_one_counted_warning_naming_each_file(replica, caplog):
  with pytest.warns(builder_lib.MetadataWarning) as caught:
    avdf.index(replica.manual_dir)
  message = " ".join(str(w.message) for w in caught)
  assert f"skipped {len(replica.bad_metadata)} of 15 metadata entries" in message
  logged = [r.getMessage() for r in caplog.records]
  for file, why in replica.bad_metadata.items():
    assert file in message and why in message
    assert any(file in line and why in line for line in logged)


def test_per_file_metadata_folder_instead_of_the_combined_json(replica, tmp_path):
  """The per-video train_metadata/<file>.json layout gives the same index."""
  manual = tmp_path / "manual"
  shutil.copytree(replica.manual_dir, manual)
  import json
  combined = manual / ROOT / "train_metadata.json"
  for entry in json.loads(combined.read_text()):
    path = manual / ROOT / "train_metadata" / (entry["file"][:-4] + ".json")
    os.makedirs(path.parent, exist_ok=True)
    path.write_text(json.dumps(entry))
  combined.unlink()
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    before = [(it.video_id, it.split, it.extra) for it in avdf.index(replica.manual_dir)]
    after = [(it.video_id, it.split, it.extra) for it in avdf.index(str(manual))]
  assert after == before


def test_segments_and_frame_labels_by_hand(replica, built):
  _, examples = built
  by_hand = {  # frame t (25 fps) is fake when (t + 0.5) / 25 lies in [start, end)
      "id00001/vidA/00001/fake_video_fake_audio.mp4": (range(10, 20), range(10, 20)),
      "id00002/vidB/00002/fake_video_real_audio.mp4": (range(5, 15), ()),  # [0.20, 0.60]
      "id00003/vidC/00003/real_video_fake_audio.mp4": ((), range(25, 32)),  # to 1.284: clipped
      "id00004/vidD/00004/fake_video_fake_audio.mp4": (range(5, 10), range(7, 15)),
      "id00005/vidE/00005/fake_video_real_audio.mp4": (range(13, 19), ()),  # [0.52, 0.76]
      "id00005/vidE/00005/real_video_fake_audio.mp4": ((), range(2, 9)),  # [0.08, 0.36]
  }
  labelled = [v for v, (s, _) in examples.items() if s != "submission"]
  assert sorted(labelled) == sorted(set(replica.expected_ids()) - set(replica.hidden))
  for video_id in labelled:
    split, ex = examples[video_id]
    rel = video_id.split("/", 2)[2]
    t = int(ex["n_frames"])
    visual, audio = np.zeros(t, np.int8), np.zeros(t, np.int8)
    v_idx, a_idx = by_hand.get(rel, ((), ()))
    visual[list(v_idx)], audio[list(a_idx)] = 1, 1
    np.testing.assert_array_equal(ex["frame_label_visual"], visual, err_msg=rel)
    np.testing.assert_array_equal(ex["frame_label_audio"], audio, err_msg=rel)
    np.testing.assert_array_equal(ex["frame_label"], np.maximum(visual, audio), err_msg=rel)
    for key, want in replica.segments[video_id].items():
      np.testing.assert_allclose(
          ex[key], np.asarray(want, np.float32).reshape(-1, 2), atol=1e-6, err_msg=key)
    truth = replica.videos[video_id]
    assert ex["modify_type"].decode() == ex["method"].decode() == replica.modify_type[video_id]
    assert (ex["label"], ex["source_id"].decode()) == (int(truth.label == "fake"), truth.source_id)
    assert int(ex["n_frames"]) == len(ex["frames"]) == len(ex["timestamps"]) == replicas.LOC_FRAMES


def test_hidden_test_labels_are_absent(replica, built):
  _, examples = built
  hidden = {v: ex for v, (s, ex) in examples.items() if s == "submission"}
  assert sorted(hidden) == sorted(replica.hidden)
  for video_id, ex in hidden.items():
    assert ex["label"] == builder_lib.HIDDEN
    assert ex["modify_type"].decode() == ex["method"].decode() == "unknown"
    for key in builder_lib.FRAME_LABEL_KEYS:
      assert ex[key].shape == (int(ex["n_frames"]),) and (ex[key] == -1).all(), key
    for key in builder_lib.SEGMENT_KEYS:
      assert ex[key].shape == (0, 2), key
    assert len(ex["frames"]) == replicas.LOC_FRAMES and ex["has_audio"]


def test_beam_build_counts_the_video_skipped_while_encoding(replica, built):
  builder, examples = built
  assert (builder.encode_summary.encoded,
          builder.encode_summary.total) == (len(replica.expected_ids()), len(replica.videos))
  assert not set(replica.corrupt) & set(examples)
  assert {s: builder.info.splits[s].num_examples for s in builder.info.splits} == replica.splits
