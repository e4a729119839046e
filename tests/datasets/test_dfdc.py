"""DFDC (full and preview) builder on replicas: nested train parts, validation grouped with each
fake's original, both test-label packagings, the preview's `set` field, and a Beam build."""
import json
import os
import shutil

import pytest

from fakedetect_jax import builder_lib
from fakedetect_jax.input import sources
from fakedetect_jax.testing import contract, replicas

dfdc = sources.import_builder_module("dfdc")


class DfdcFullTest(contract.ReplicaBuilderTest):
  DATASET_CLASS = dfdc.Builder
  CONFIG = "full"

  @classmethod
  def write_replica(cls, manual_dir):
    return replicas.write_dfdc(manual_dir)


class DfdcPreviewTest(contract.ReplicaBuilderTest):
  DATASET_CLASS = dfdc.Builder
  CONFIG = "preview"

  @classmethod
  def write_replica(cls, manual_dir):
    return replicas.write_dfdcp(manual_dir)


@pytest.fixture(scope="module")
def replica(tmp_path_factory):
  return replicas.write_dfdc(str(tmp_path_factory.mktemp("dfdc") / "manual"))


def _splits_by_source(items):
  out = {}
  for it in items:
    out.setdefault(it.source_id, set()).add(it.split)
  return out


def test_nested_parts_found_and_fakes_grouped_with_their_original(replica):
  items = dfdc.index_full(replica.manual_dir)
  assert {it.video_id for it in items} == set(replica.videos)
  assert "dfdc_train_part_01/dfdc_train_part_1/fccccccccc.mp4" in replica.videos  # nested part
  split = {it.video_id: it.split for it in items}
  # fccccccccc (part 1) was made from cccccccccc (part 0): one split for both.
  assert split["dfdc_train_part_01/dfdc_train_part_1/fccccccccc.mp4"] == \
      split["dfdc_train_part_0/cccccccccc.mp4"]
  assert all(len(s) == 1 for s in _splits_by_source(items).values())


def test_test_labels_from_metadata_json_too(tmp_path):
  rep = replicas.write_dfdc(str(tmp_path / "manual"), test_format="json")
  items = [it for it in dfdc.index_full(rep.manual_dir) if it.split == "test"]
  assert {
      it.video_id: it.label for it in items
  } == {
      k: v.label for k, v in rep.videos.items() if v.split == "test"
  }


def test_part_without_metadata_fails_naming_the_file(replica, tmp_path):
  manual = tmp_path / "manual"
  shutil.copytree(replica.manual_dir, manual)
  missing = manual / "dfdc_train_part_01" / "dfdc_train_part_1" / "metadata.json"
  os.remove(missing)
  with pytest.raises(builder_lib.LayoutError) as err:
    dfdc.index_full(str(manual))
  assert "\n" not in str(err.value) and str(missing) in str(err.value)


def test_test_folder_without_labels_fails_naming_the_file(replica, tmp_path):
  manual = tmp_path / "manual"
  shutil.copytree(replica.manual_dir, manual)
  os.remove(manual / "test" / "labels.csv")
  with pytest.raises(builder_lib.LayoutError) as err:
    dfdc.index_full(str(manual))
  assert "\n" not in str(err.value) and str(manual / "test" / "labels.csv") in str(err.value)


def test_preview_split_by_set_and_identity(tmp_path):
  rep = replicas.write_dfdcp(str(tmp_path / "manual"))
  items = dfdc.index_preview(rep.manual_dir)
  assert {it.video_id for it in items} == set(rep.videos)
  assert all(len(s) == 1 for s in _splits_by_source(items).values())
  with open(os.path.join(rep.manual_dir, "dataset.json")) as f:
    meta = json.load(f)
  assert {it.video_id for it in items if it.split == "test"
         } == {k for k, v in meta.items() if v["set"] == "test"}
  os.remove(os.path.join(rep.manual_dir, "dataset.json"))
  with pytest.raises(builder_lib.LayoutError, match="dataset.json"):
    dfdc.index_preview(rep.manual_dir)


def test_beam_build_with_the_direct_runner(replica, tmp_path):
  """The path a cluster build takes (tfds build ... --beam_pipeline_options=...), run locally."""
  import apache_beam as beam
  import tensorflow_datasets as tfds
  builder = dfdc.Builder(data_dir=str(tmp_path / "data"), config="full", media=contract.TINY_MEDIA)
  options = beam.options.pipeline_options.PipelineOptions(
      ["--runner=DirectRunner", "--direct_num_workers=1", "--direct_running_mode=in_memory"])
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(
          manual_dir=replica.manual_dir, beam_options=options))
  assert contract.check_build(builder, replica) == []
  summary = builder.encode_summary  # from the pipeline's counters
  assert (summary.encoded, summary.total) == (len(replica.expected_ids()), len(replica.videos))
  assert builder.info.file_format.value == builder_lib.DEFAULT_FILE_FORMAT  # Beam writes it too
  example = builder.as_data_source("train")[0]
  assert example["has_audio"] and example["audio"].shape == (4, 20, 80)
