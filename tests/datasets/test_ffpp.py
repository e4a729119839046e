"""FaceForensics++ / DFD builder on a replica with only c23 present.

TFDS's builder test case builds `c23` in-process; `dfd_c23` is built with the standard
`tfds build` command (process pool, progress bar), written as array_record, and read back by
builder_from_directory and by the training code's sources (open_split).
"""
import glob
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from fakedetect_jax import builder_lib, config_lib
from fakedetect_jax.errors import DataError
from fakedetect_jax.input import sources
from fakedetect_jax.testing import contract, replicas

ffpp = sources.import_builder_module("ffpp")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class FfppC23Test(contract.ReplicaBuilderTest):
  DATASET_CLASS = ffpp.Builder
  CONFIG = "c23"

  @classmethod
  def write_replica(cls, manual_dir):
    return replicas.write_ffpp(manual_dir)[0]


@pytest.fixture(scope="module")
def replica(tmp_path_factory):
  return replicas.write_ffpp(str(tmp_path_factory.mktemp("ffpp") / "manual"))


def test_official_split_pairs_and_leftovers(replica):
  ff, _ = replica
  items = ffpp.index_ffpp(ff.manual_dir, "c23")
  assert {it.video_id for it in items} == set(ff.videos)
  assert not {it.video_id for it in items} & set(ff.left_out)  # no split; masks
  for it in items:  # a fake and both of its originals share the split of their pair
    assert it.split == ff.videos[it.video_id].split


def test_missing_split_file_fails_at_once_naming_it(replica, tmp_path):
  manual = tmp_path / "manual"
  shutil.copytree(replica[0].manual_dir, manual)
  os.remove(manual / "splits" / "val.json")
  import tensorflow_datasets as tfds
  builder = ffpp.Builder(data_dir=str(tmp_path / "data"), config="c23", media=contract.TINY_MEDIA)
  config = tfds.download.DownloadConfig(manual_dir=str(manual))
  with pytest.raises(builder_lib.LayoutError) as err:
    builder.download_and_prepare(download_config=config)
  msg = str(err.value)
  assert "\n" not in msg and str(manual / "splits" / "val.json") in msg and "expected layout" in msg
  assert builder.encode_summary.total == 0  # failed before encoding anything


def test_absent_compression_names_the_folder_and_what_is_there(replica):
  with pytest.raises(builder_lib.LayoutError) as err:
    ffpp.index_ffpp(replica[0].manual_dir, "c40")
  msg = str(err.value)
  assert "\n" not in msg and "original_sequences/youtube/c40/videos" in msg and "found: c23" in msg


def test_dfd_split_by_actor(replica):
  _, dfd = replica
  items = ffpp.index_dfd(dfd.manual_dir, "c23")
  assert {it.video_id for it in items} == set(dfd.videos)
  actor_splits = {}
  for it in items:
    actor_splits.setdefault(it.source_id.split("__")[0], set()).add(it.split)
  assert all(len(s) == 1 for s in actor_splits.values())


@pytest.fixture(scope="module")
def dfd_build(replica, tmp_path_factory):
  """`tfds build datasets/ffpp ... --config=dfd_c23` as a user runs it (every core):
    (data_dir, the finished process)."""
  _, dfd = replica
  data_dir = tmp_path_factory.mktemp("tfds")
  env = dict(os.environ, FAKEDETECT_MEDIA=contract.TINY_MEDIA, TF_CPP_MIN_LOG_LEVEL="3")
  env.pop(builder_lib.WORKERS_ENV, None)
  proc = subprocess.run([
      sys.executable, "-m", "tensorflow_datasets.scripts.cli.main", "build", "datasets/ffpp",
      f"--manual_dir={dfd.manual_dir}", f"--data_dir={data_dir}", "--config=dfd_c23"
  ],
                        cwd=REPO,
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return data_dir, proc


def _data_config(data_dir, **extra):
  cfg = config_lib.base_config().data
  cfg.update(
      dict(
          dataset="ffpp",
          config="dfd_c23",
          data_dir=str(data_dir),
          image_size=64,
          label_key="label",
          methods=(),
          **extra))
  return cfg


def test_tfds_build_command_then_both_loaders(replica, dfd_build, monkeypatch):
  _, dfd = replica
  data_dir, proc = dfd_build
  assert "encoding videos" in proc.stderr and "<" in proc.stderr  # tqdm bar with its ETA

  import tensorflow_datasets as tfds
  prepared = ffpp.Builder(
      data_dir=str(data_dir), config="dfd_c23", media=contract.TINY_MEDIA).data_dir
  assert os.path.basename(
      os.path.dirname(prepared)) == "dfd_c23+face_size64+mouth_size32+num_frames4"
  assert contract.check_build(tfds.builder_from_directory(prepared), dfd) == []

  # The training code: datasets/ on sys.path, tfds.builder(name, config=..., data_dir=...).
  monkeypatch.setenv(builder_lib.MEDIA_ENV, contract.TINY_MEDIA)
  source = sources.open_split(_data_config(data_dir), "train")
  assert len(source) == dfd.splits["train"] * 4  # a row per stored frame
  assert len(source.labels) == len(source.video_index) == len(source.methods) == len(source)
  assert set(source.methods) == {"real", "DeepFakeDetection"}
  assert len(set(source.video_ids)) == dfd.splits["train"]
  assert set(source.video_ids) <= set(dfd.expected_ids())
  for i in (0, len(source) - 1):
    row = source[i]
    assert row["inputs"]["image"].shape == (64, 64, 3)
    assert row["inputs"]["image"].dtype == np.uint8
    truth = dfd.videos[source.video_ids[source.video_index[i]]]
    assert int(row["label"]) == builder_lib.LABELS.index(truth.label) == source.labels[i]


def test_prepared_split_is_array_record_and_missing_data_names_the_prepare_command(
    dfd_build, tmp_path, monkeypatch):
  data_dir, _ = dfd_build
  monkeypatch.setenv(builder_lib.MEDIA_ENV, contract.TINY_MEDIA)
  builder = ffpp.Builder(data_dir=str(data_dir), config="dfd_c23")
  assert builder.info.file_format.value == "array_record"
  for split in builder.info.splits:
    shards = glob.glob(os.path.join(builder.data_dir, f"*-{split}.array_record-*"))
    assert shards, os.listdir(builder.data_dir)
    assert not glob.glob(os.path.join(builder.data_dir, f"*-{split}.tfrecord-*"))

  command = "tfds build datasets/ffpp --config=dfd_c23"
  # A split the prepared dataset does not have.
  with pytest.raises(DataError) as err:
    sources.open_split(_data_config(data_dir), "holdout")
  msg = str(err.value)
  assert "\n" not in msg and "ffpp/dfd_c23" in msg and "'holdout'" in msg and command in msg
  # A dataset not prepared at all in data_dir.
  with pytest.raises(DataError) as err:
    sources.open_split(_data_config(tmp_path / "empty"), "train")
  msg = str(err.value)
  assert "\n" not in msg and "ffpp/dfd_c23" in msg and "not prepared" in msg and command in msg
