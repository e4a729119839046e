"""Celeb-DF builder on a replica: official test list (first line is data), train/validation by
source video, test groups kept out of train."""
import os
import shutil

import pytest

from fakedetect_jax import builder_lib
from fakedetect_jax.input import sources
from fakedetect_jax.testing import contract, replicas

celeb_df = sources.import_builder_module("celeb_df")


class CelebDfV2Test(contract.ReplicaBuilderTest):
  DATASET_CLASS = celeb_df.Builder
  CONFIG = "v2"

  @classmethod
  def write_replica(cls, manual_dir):
    return replicas.write_celeb_df(manual_dir)


@pytest.fixture(scope="module")
def replica(tmp_path_factory):
  return replicas.write_celeb_df(str(tmp_path_factory.mktemp("celeb_df") / "manual"))


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_test_split_is_the_official_list(replica, version):
  items = celeb_df.index(replica.manual_dir, version)
  with open(os.path.join(replica.manual_dir, celeb_df.TEST_LIST)) as f:
    listed = {line.split()[1] for line in f if line.strip()}
  on_disk = {p for p in listed if os.path.exists(os.path.join(replica.manual_dir, p))}
  assert "YouTube-real/00000.mp4" in on_disk  # the list's first line is an entry, not a header
  assert {it.video_id for it in items if it.split == "test"} == on_disk


def test_sources_never_cross_splits_and_test_stays_out_of_train(replica):
  items = celeb_df.index(replica.manual_dir, "v2")
  splits_of = {}
  for it in items:
    splits_of.setdefault(it.source_id, set()).add(it.split)
  assert all(len(s) == 1 for s in splits_of.values()), splits_of
  assert not {it.video_id for it in items} & set(replica.left_out)
  assert {it.split for it in items} == {"train", "validation", "test"}


def test_missing_test_list_fails_naming_it(replica, tmp_path):
  manual = tmp_path / "manual"
  shutil.copytree(replica.manual_dir, manual)
  os.remove(manual / celeb_df.TEST_LIST)
  with pytest.raises(builder_lib.LayoutError) as err:
    celeb_df.index(str(manual), "v2")
  msg = str(err.value)
  assert "\n" not in msg and str(manual / celeb_df.TEST_LIST) in msg and "expected layout" in msg


def test_malformed_test_list_line_is_reported_with_its_number(replica, tmp_path):
  manual = tmp_path / "manual"
  shutil.copytree(replica.manual_dir, manual)
  with open(manual / celeb_df.TEST_LIST, "a") as f:
    f.write("real Celeb-real/id0_0001.mp4\n")
  with pytest.raises(builder_lib.LayoutError, match=r"List_of_testing_videos.txt:8: expected"):
    celeb_df.index(str(manual), "v2")
