"""The training order: a pure function of (seed, step), balanced, split between hosts; batches
read by Grain (in-process and in worker processes) with host-side augmentations."""
import jax
import ml_collections
import numpy as np
import pytest

from fakedetect_jax import config_lib
from fakedetect_jax.input import TrainOrder, pipeline
from fakedetect_jax.input.pipeline import host_rows
from fakedetect_jax.input.sources import Source, _ArrayRecords
from fakedetect_jax.train import state as state_lib


def test_order_is_a_function_of_step_and_covers_each_epoch():
  labels = np.array([0] * 30 + [1] * 30)
  a = TrainOrder(labels, 8, seed=3, balance_classes=False)
  b = TrainOrder(labels, 8, seed=3, balance_classes=False)
  # A fresh object asked for step 11 directly (a resumed run) gets what a run reaching it got.
  seen = [a.batch(s) for s in range(12)]
  np.testing.assert_array_equal(b.batch(11), seen[11])
  first_epoch = np.concatenate(seen)[:60]
  assert sorted(first_epoch) == list(range(60))  # every frame once per epoch
  assert not np.array_equal(a.batch(0), TrainOrder(labels, 8, seed=4).batch(0))


def test_balanced_order_samples_classes_equally():
  labels = np.array([0] * 90 + [1] * 10)
  order = TrainOrder(labels, 20, seed=0, balance_classes=True)
  assert order.epoch_size == 180
  drawn = np.concatenate([order.batch(s) for s in range(9)])
  assert np.sum(labels[drawn] == 1) == 90
  assert set(drawn[labels[drawn] == 1]) == set(range(90, 100))


def test_hosts_split_each_batch_without_overlap():
  batch = np.arange(100, 132)
  parts = [host_rows(batch, p, 4) for p in range(4)]
  np.testing.assert_array_equal(np.concatenate(parts), batch)


def _source(n=16, size=32, log=None):
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
  labels = np.repeat([0, 1], n // 2).astype(np.int32)
  records = _ArrayRecords(images) if log is None else _LoggedRecords(images, log)
  data = ml_collections.ConfigDict(dict(view="frames", image_size=size, clip_len=8))
  return Source(records, data, np.arange(n), np.zeros(n, np.int32), labels,
                np.arange(n, dtype=np.int32), np.array(["real"] * (n // 2) + ["fake"] * (n // 2)),
                np.arange(n).astype(str)), images, labels


class _LoggedRecords(_ArrayRecords):
  """Records that note which rows a reader asked for (in-process readers only)."""

  def __init__(self, images, log):
    super().__init__(images)
    self.log = log

  def __getitem__(self, r):
    self.log.append(int(r))
    return super().__getitem__(r)


def _batches(source, order, start, end, augment_cfg=None, workers=0, **kw):
  sharding = state_lib.batch_sharding(state_lib.make_mesh())
  return {
      s: jax.device_get(b) for s, b, _ in pipeline.TrainBatches(source, order, start, end, sharding,
                                                               workers, 0, augment_cfg, **kw)
  }


def test_host_augmentations_are_applied_and_resumable():
  source, images, labels = _source()
  order = pipeline.TrainOrder(labels, 8, seed=3)
  cfg = config_lib.base_config().augment
  cfg.sbi, cfg.jpeg = 1.0, 1.0
  batches, resumed = _batches(source, order, 0, 3, cfg), _batches(source, order, 2, 3, cfg)
  rows = order.batch(2)
  out = batches[2]["inputs"]["image"]
  assert np.all(batches[2]["labels"] == 1)  # every real became a self-blended fake
  assert not np.array_equal(out, images[rows])  # and every frame was re-compressed
  np.testing.assert_array_equal(out, resumed[2]["inputs"]["image"])  # same draw on resume
  plain = _batches(source, order, 2, 3, config_lib.base_config().augment)
  np.testing.assert_array_equal(plain[2]["inputs"]["image"], images[rows])
  np.testing.assert_array_equal(plain[2]["labels"], labels[rows])


def test_worker_processes_give_the_in_process_batches():
  source, _, labels = _source()
  order = pipeline.TrainOrder(labels, 8, seed=1)
  cfg = config_lib.base_config().augment
  cfg.sbi, cfg.noise, cfg.blur = 0.5, 0.5, 0.5
  here, workers = _batches(source, order, 0, 5, cfg), _batches(source, order, 0, 5, cfg, 2)
  for s in range(5):
    for k in ("labels",):
      np.testing.assert_array_equal(here[s][k], workers[s][k])
    np.testing.assert_array_equal(here[s]["inputs"]["image"], workers[s]["inputs"]["image"])


def test_each_host_reads_only_its_share_and_hosts_make_the_global_batch(monkeypatch):
  log = []
  source, images, labels = _source(log=log)
  order = pipeline.TrainOrder(labels, 8, seed=2)
  cfg = config_lib.base_config().augment
  cfg.sbi, cfg.jpeg = 0.5, 0.5
  one = _batches(source, order, 0, 4, cfg)
  shares = []
  for pid in range(2):
    monkeypatch.setattr(jax, "process_index", lambda pid=pid: pid)
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    log.clear()
    # A host's batch holds its 4 rows only (the mesh of a real second host holds the others).
    got = {}
    transform = pipeline._TrainRow(source, order, 4, pid * 4, cfg)
    for s in range(4):
      got[s] = [transform.map(s * 4 + j) for j in range(4)]
    assert sorted(set(log)) == sorted(
        set(np.concatenate([order.batch(s)[pid * 4:pid * 4 + 4] for s in range(4)])))
    shares.append(got)
  for s in range(4):
    rows = shares[0][s] + shares[1][s]
    np.testing.assert_array_equal(
        np.stack([r["inputs"]["image"] for r in rows]), one[s]["inputs"]["image"])
    np.testing.assert_array_equal([r["labels"] for r in rows], one[s]["labels"])


def test_resume_state_must_match_the_checkpoint_step():
  source, _, labels = _source()
  order = pipeline.TrainOrder(labels, 8, seed=0)
  sharding = state_lib.batch_sharding(state_lib.make_mesh())
  with pytest.raises(pipeline.DataError, match="input position"):
    pipeline.TrainBatches(source, order, 3, 5, sharding, iterator_state={"next_step": 2})


def test_eval_batches_cover_every_row_once_in_order():
  source, images, _ = _source(n=20)
  sharding = state_lib.batch_sharding(state_lib.make_mesh())
  seen, total = [], 0
  for inputs, valid in pipeline.eval_batches(source, 8, sharding):
    seen.append(np.asarray(inputs["image"])[:valid])
    total += valid
  assert total == 20
  np.testing.assert_array_equal(np.concatenate(seen), images)
