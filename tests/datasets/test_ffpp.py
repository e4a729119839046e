"""FaceForensics++ / DFD builder on a replica with only c23 present.

TFDS's builder test case builds `c23` in-process; `dfd_c23` is built with the standard
`tfds build` command (process pool, progress bar) and read back by builder_from_directory and
by the training code's loader.
"""
import os
import shutil
import subprocess
import sys

import pytest

from fakedetect_jax import builder_lib, config_lib
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


def test_tfds_build_command_then_both_loaders(replica, tmp_path, monkeypatch):
    """`tfds build datasets/ffpp ... --config=dfd_c23` as a user runs it (every core)."""
    _, dfd = replica
    data_dir = tmp_path / "tfds"
    env = dict(os.environ, FAKEDETECT_MEDIA=contract.TINY_MEDIA, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop(builder_lib.WORKERS_ENV, None)
    proc = subprocess.run(
        [sys.executable, "-m", "tensorflow_datasets.scripts.cli.main", "build", "datasets/ffpp",
         f"--manual_dir={dfd.manual_dir}", f"--data_dir={data_dir}", "--config=dfd_c23"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "encoding videos" in proc.stderr and "<" in proc.stderr  # tqdm bar with its ETA

    import tensorflow_datasets as tfds
    prepared = ffpp.Builder(data_dir=str(data_dir), config="dfd_c23", media=contract.TINY_MEDIA).data_dir
    assert os.path.basename(os.path.dirname(prepared)) == "dfd_c23+face_size64+mouth_size32+num_frames4"
    assert contract.check_build(tfds.builder_from_directory(prepared), dfd) == []

    # The training code: datasets/ on sys.path, tfds.builder(name, config=..., data_dir=...).
    monkeypatch.setenv(builder_lib.MEDIA_ENV, contract.TINY_MEDIA)
    cfg = config_lib.base_config().data
    cfg.update(dict(dataset="ffpp", config="dfd_c23", data_dir=str(data_dir), image_size=64,
                    label_key="label", cache_dir=str(tmp_path / "cache"), methods=()))
    source = sources.load_split(cfg, "train")
    assert source.images.shape == (dfd.splits["train"] * 4, 64, 64, 3)
    assert set(source.methods) == {"real", "DeepFakeDetection"}
