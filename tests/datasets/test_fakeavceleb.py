"""FakeAVCeleb v1.2 builder on a replica: nested root, meta_data.csv quirks (trailing comma, '-',
folder in the 10th column, conflicting duplicate rows), race folders with spaces and
parentheses, identity-disjoint splits, video and audio labels."""
import os
import random
import shutil

import numpy as np
import pytest
from etils import epath

from fakedetect_jax import builder_lib
from fakedetect_jax.input import sources
from fakedetect_jax.testing import contract, replicas

fav = sources.import_builder_module("fakeavceleb")
META = "FakeAVCeleb_v1.2/FakeAVCeleb_v1.2/meta_data.csv"


class FakeAVCelebTest(contract.ReplicaBuilderTest):
  DATASET_CLASS = fav.Builder
  CONFIG = "v1.2"

  @classmethod
  def write_replica(cls, manual_dir):
    return replicas.write_fakeavceleb(manual_dir)


@pytest.fixture(scope="module")
def replica(tmp_path_factory):
  return replicas.write_fakeavceleb(str(tmp_path_factory.mktemp("fav") / "manual"))


def test_index_matches_the_replica(replica):
  items = fav.index(replica.manual_dir)
  assert {it.video_id for it in items} == set(replica.videos)
  for it in items:
    truth = replica.videos[it.video_id]
    assert (it.label, it.method, it.source_id, dict(it.extra)) == \
        (truth.label, truth.method, truth.source_id, truth.extra)
  assert any("Asian (East)" in it.video_id for it in items)
  splits = {}
  for it in items:
    splits.setdefault(it.source_id, set()).add(it.split)
  assert all(len(s) == 1 for s in splits.values())
  assert {it.split for it in items} == {"train", "validation", "test"}


def test_header_trailing_comma_and_folder_column(replica):
  rows = fav.read_meta(epath.Path(replica.manual_dir) / META)
  row = next(r for r in rows if r.rel.startswith("RealVideo-RealAudio/African/men/id00001/"))
  assert (row.source, row.target1, row.method, row.category) == ("id00001", "", "real", "A")
  assert row.rel == "RealVideo-RealAudio/African/men/id00001/00001.mp4"  # 'FakeAVCeleb/' dropped


def test_duplicate_rows_resolve_the_same_whatever_their_order(replica, tmp_path):
  manual = tmp_path / "manual"
  shutil.copytree(replica.manual_dir, manual)
  with open(manual / META) as f:
    header, *rows = f.read().splitlines()
  random.Random(0).shuffle(rows)
  with open(manual / META, "w") as f:
    f.write("\n".join([header, *rows]) + "\n")
  before = {it.video_id: (it.method, it.split) for it in fav.index(replica.manual_dir)}
  after = {it.video_id: (it.method, it.split) for it in fav.index(str(manual))}
  assert after == before
  d_video = "FakeAVCeleb_v1.2/FakeAVCeleb_v1.2/FakeVideo-FakeAudio/Asian (South)/men/id00003/" \
            "00001_id00004_wavtolip.mp4"
  assert before[d_video][0] == "fsgan-wav2lip"


def test_missing_meta_data_fails_naming_it(replica, tmp_path):
  manual = tmp_path / "manual"
  shutil.copytree(replica.manual_dir, manual)
  os.remove(manual / META)
  with pytest.raises(builder_lib.LayoutError) as err:
    fav.index(str(manual))
  msg = str(err.value)
  assert "\n" not in msg and "meta_data.csv" in msg and "expected layout" in msg


def test_clips_config_gives_two_runs_of_consecutive_frames():
  """v1.2_clips: what the temporal and lip-sync branches read, on a 7 s clip at 25 fps (the
    typical FakeAVCeleb video)."""
  from fakedetect_jax.media import sample_indices
  cfg = fav.Builder.builder_configs["v1.2_clips"].media
  idx, padded = sample_indices(175, cfg)
  runs = np.asarray(idx).reshape(2, 16)
  assert not padded and np.all(np.diff(runs, axis=1) == 1) and runs[1, 0] > runs[0, -1]
  assert fav.Builder.builder_configs["v1.2"].media.sampling == "even"
