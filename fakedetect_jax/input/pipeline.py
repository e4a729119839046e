"""Batches from a Source with Grain: a step-addressable global order, per-host reading, workers.

The training order is a pure function of (seed, step): step s uses positions [s*B, (s+1)*B) of
an endless sequence of per-epoch permutations (TrainOrder). Each host reads only its own
contiguous share of every global batch. Reading a row (record read, JPEG decoding, resize) and
every host-side augmentation happen in Grain worker processes (`config.data.workers`); the
augmentation of a row is drawn from (seed, step, position in the global batch), so it does not
depend on the number of hosts or workers. Grain's iterator state goes into every checkpoint,
and a resumed run reads exactly the batches an uninterrupted run would have.
"""
import os
import queue
import threading

import grain
import grain.python as grain_py
import jax
import numpy as np

from fakedetect_jax.errors import DataError
from fakedetect_jax.input import augment


class TrainOrder:
  """Which row indices make up each global batch."""

  def __init__(self, labels, batch_size, seed, balance_classes=True):
    self.labels = np.asarray(labels)
    self.batch_size = batch_size
    self.seed = seed
    self.balance = balance_classes and len(np.unique(self.labels)) > 1
    self._epoch_cache = {}
    self.epoch_size = len(self._epoch(0))

  def _epoch(self, epoch):
    if epoch not in self._epoch_cache:
      rng = np.random.default_rng([self.seed, epoch])
      if self.balance:
        # Every class as often as the largest one: minority rows repeat, in a fresh draw each epoch.
        classes = [np.flatnonzero(self.labels == c) for c in np.unique(self.labels)]
        most = max(len(c) for c in classes)
        idx = np.concatenate([np.resize(rng.permutation(c), most) for c in classes])
        order = idx[rng.permutation(len(idx))]
      else:
        order = rng.permutation(len(self.labels))
      self._epoch_cache = {epoch: order}  # keep one: steps only move forward
    return self._epoch_cache[epoch]

  def batch(self, step):
    """Global indices of the batch at `step` (wrapping across epochs)."""
    start = step * self.batch_size
    out = []
    while len(out) < self.batch_size:
      epoch, offset = divmod(start + len(out), self.epoch_size)
      take = min(self.batch_size - len(out), self.epoch_size - offset)
      out.extend(self._epoch(epoch)[offset:offset + take])
    return np.asarray(out)

  def index(self, step, slot):
    """The row at position `slot` of the global batch at `step` (= batch(step)[slot])."""
    epoch, offset = divmod(step * self.batch_size + slot, self.epoch_size)
    return self._epoch(epoch)[offset]


def host_rows(global_batch, process_index, process_count):
  """This host's contiguous share of a global batch (the mesh lays hosts out in order)."""
  per_host = len(global_batch) // process_count
  return global_batch[process_index * per_host:(process_index + 1) * per_host]


def default_workers():
  """config.data.workers when unset: every core of the host (Grain worker processes)."""
  return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def workers(data_config):
  """Grain worker processes for data_config (data.workers; None = every core, 0 = in-process)."""
  w = data_config.get("workers")
  return default_workers() if w is None or w < 0 else int(w)


class _TrainRow(grain_py.MapTransform):
  """Host position k -> the row of step k // per_host at this host's slot, augmented."""

  def __init__(self, source, order, per_host, host_offset, augment_cfg):
    self.source, self.order = source, order
    self.per_host, self.host_offset = per_host, host_offset
    self.augment_cfg = augment_cfg if (augment_cfg is not None and source.view == "frames" and
                                       augment.enabled(augment_cfg)) else None
    if self.augment_cfg is not None and augment.uses_landmarks(self.augment_cfg):
      # Self-blending shapes its mask from the stored landmarks: only then are they read.
      self.source = source.with_landmarks()

  def map(self, k):
    step, j = divmod(int(k), self.per_host)
    slot = self.host_offset + j
    row = self.order.index(step, slot)
    ex = self.source[row]
    inputs = dict(ex["inputs"])
    landmarks = inputs.pop("landmarks", None)  # for the augmentation, not the model
    label = ex["label"]
    if self.augment_cfg is not None:
      rng = np.random.default_rng([self.order.seed, step, slot])
      lm = None if landmarks is None else landmarks[None]
      images, labels = augment.apply_augmentations(inputs["image"][None], np.asarray([label]), rng,
                                                   self.augment_cfg, lm)
      inputs, label = {"image": images[0]}, np.int32(labels[0])
    # Per-row targets beyond the label (the segments view's frame_labels) ride along.
    return {
        "inputs": inputs,
        "labels": label,
        **{
            k: v for k, v in ex.items() if k not in ("inputs", "label")
        }
    }


class _EvalRow(grain_py.MapTransform):
  """Host position k -> row of the padded evaluation order at this host's slot."""

  def __init__(self, source, per_host, host_offset, global_batch):
    self.source, self.per_host = source, per_host
    self.host_offset, self.global_batch = host_offset, global_batch

  def map(self, k):
    b, j = divmod(int(k), self.per_host)
    row = min(b * self.global_batch + self.host_offset + j, len(self.source) - 1)
    return self.source[row]["inputs"]


def _stack(rows):
  return jax.tree.map(lambda *a: np.stack(a), *rows)


def _worker_init(index, count):
  # One thread per worker process for OpenCV: the workers are the parallelism.
  import cv2
  cv2.setNumThreads(1)


def _iterate(positions, transform, per_host, workers):
  # Elements are whole host batches: a couple read ahead per worker is enough (Grain's default,
  # 16 threads and 500 elements ahead, would hold gigabytes and oversubscribe the cores).
  read = grain.ReadOptions(num_threads=1 if workers > 0 else 2, prefetch_buffer_size=2)
  ds = (
      grain.MapDataset.range(positions.start, positions.stop).map(transform).batch(
          per_host, batch_fn=_stack).to_iter_dataset(read))
  if workers > 0:
    ds = ds.mp_prefetch(
        grain_py.MultiprocessingOptions(num_workers=workers, per_worker_buffer_size=2),
        worker_init_fn=_worker_init)
  return iter(ds)


class TrainBatches:
  """Iterates (step, batch, data_state) for steps [start_step, end_step) as global jax Arrays.

  batch = {'inputs': {name: [B, ...]}, 'labels': [B]}. data_state is what a checkpoint at that
  step saves: Grain's iterator state right after the batch plus the next step. Resuming
  (`iterator_state`) continues at that next step by building the iterator there: the order is a
  function of the step, and Grain's multi-worker state would replay every element read so far.
  """

  def __init__(self,
               source,
               order,
               start_step,
               end_step,
               sharding,
               workers=0,
               prefetch=2,
               augment_cfg=None,
               iterator_state=None):
    if iterator_state is not None and iterator_state.get("next_step") != start_step:
      raise DataError(f"the checkpoint's input position (step {iterator_state.get('next_step')}) "
                      f"does not match its model step {start_step}")
    pid, nproc = jax.process_index(), jax.process_count()
    self.per_host = order.batch_size // nproc
    transform = _TrainRow(source, order, self.per_host, pid * self.per_host, augment_cfg)
    self.start_step, self.end_step = start_step, end_step
    self._it = _iterate(
        range(start_step * self.per_host, end_step * self.per_host), transform, self.per_host,
        workers)
    self.sharding, self.prefetch, self.workers = sharding, prefetch, workers

  def __iter__(self):

    def produce():
      for step in range(self.start_step, self.end_step):
        host = next(self._it)
        state = {"next_step": step + 1, "workers": self.workers, "grain": self._it.get_state()}
        yield step, _to_global(host, self.sharding), state

    return _prefetched(produce(), self.prefetch) if self.prefetch else produce()


def train_batches(source,
                  order,
                  start_step,
                  end_step,
                  sharding,
                  prefetch=2,
                  augment_cfg=None,
                  workers=0):
  """Yields (step, batch); the loop uses TrainBatches, which also gives Grain's state."""
  for step, batch, _ in TrainBatches(source, order, start_step, end_step, sharding, workers,
                                     prefetch, augment_cfg):
    yield step, batch


def eval_batches(source, batch_size, sharding, workers=0):
  """Every row once, in order, padded to whole global batches; yields (inputs, n_valid)."""
  pid, nproc = jax.process_index(), jax.process_count()
  per_host = batch_size // nproc
  n_batches = -(-len(source) // batch_size)
  # Starting worker processes costs seconds: worth it for a long pass, not for a few batches.
  workers = workers if n_batches >= 8 * max(workers, 1) else 0
  it = _iterate(
      range(0, n_batches * per_host), _EvalRow(source, per_host, pid * per_host, batch_size),
      per_host, workers)
  for b in range(n_batches):
    valid = min(batch_size, len(source) - b * batch_size)
    yield _to_global(next(it), sharding), valid


def _to_global(host_batch, sharding):
  return jax.tree.map(lambda a: jax.make_array_from_process_local_data(sharding, a), host_batch)


def _prefetched(iterator, size=2):
  """Runs `iterator` on a thread `size` items ahead, so host reads overlap device compute."""
  q = queue.Queue(maxsize=size)
  done = object()

  def work():
    try:
      for item in iterator:
        q.put(item)
    except BaseException as e:  # surfaced in the consumer
      q.put(e)
    q.put(done)

  threading.Thread(target=work, daemon=True).start()
  while (item := q.get()) is not done:
    if isinstance(item, BaseException):
      raise item
    yield item
