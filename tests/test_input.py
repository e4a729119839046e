"""The training order: a pure function of (seed, step), balanced, split between hosts."""
import numpy as np

from fakedetect_jax.input import TrainOrder
from fakedetect_jax.input.pipeline import host_rows, read_rows


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


def test_read_rows_keeps_batch_order_from_a_memmap(tmp_path):
  images = np.lib.format.open_memmap(tmp_path / "x.npy", "w+", np.uint8, (20, 2, 2, 3))
  images[:] = np.arange(20)[:, None, None, None]
  images.flush()
  mm = np.load(tmp_path / "x.npy", mmap_mode="r")
  rows = np.array([7, 2, 19, 2])
  np.testing.assert_array_equal(read_rows(mm, rows)[:, 0, 0, 0], rows)


def test_host_augmentations_are_applied_and_resumable():
  from fakedetect_jax import config_lib
  from fakedetect_jax.input import pipeline
  from fakedetect_jax.input.sources import FrameSource
  from fakedetect_jax.train import state as state_lib
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
  labels = np.repeat([0, 1], 8).astype(np.int32)
  source = FrameSource(images, labels, np.arange(16), np.array(["real"] * 8 + ["fake"] * 8),
                       np.arange(16).astype(str))
  order = pipeline.TrainOrder(labels, 8, seed=3)
  sharding = state_lib.batch_sharding(state_lib.make_mesh())
  cfg = config_lib.base_config().augment
  cfg.sbi, cfg.jpeg = 1.0, 1.0
  get = lambda start: dict(pipeline.train_batches(source, order, start, 3, sharding, 0, cfg))
  batches, resumed = get(0), get(2)
  rows = order.batch(2)
  out = np.asarray(batches[2]["images"])
  assert np.all(np.asarray(batches[2]["labels"]) == 1)  # every real became a self-blended fake
  assert not np.array_equal(out, images[rows])  # and every frame was re-compressed
  np.testing.assert_array_equal(out, np.asarray(resumed[2]["images"]))  # same draw on resume
  plain = dict(pipeline.train_batches(source, order, 2, 3, sharding, 0, config_lib.base_config().augment))
  np.testing.assert_array_equal(np.asarray(plain[2]["images"]), images[rows])
