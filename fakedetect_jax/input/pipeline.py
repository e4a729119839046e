"""Batches from a FrameSource: a step-addressable training order and on-device prefetch.

The training order is a pure function of (seed, step): step s uses positions [s*B, (s+1)*B) of
an endless sequence of per-epoch permutations. A resumed run therefore reads exactly the batches
an uninterrupted run would have, with no iterator state to save.
"""
import queue
import threading

import jax
import numpy as np

from fakedetect_jax.input import augment


class TrainOrder:
  """Which frame indices make up each global batch."""

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
        # Every class as often as the largest one: minority frames repeat, in a fresh draw each epoch.
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


def host_rows(global_batch, process_index, process_count):
  """This host's contiguous share of a global batch (the mesh lays hosts out in order)."""
  per_host = len(global_batch) // process_count
  return global_batch[process_index * per_host:(process_index + 1) * per_host]


def read_rows(images, rows):
  # Memmaps read fastest in file order; the batch keeps its own order.
  order = np.argsort(rows, kind="stable")
  out = np.empty((len(rows),) + tuple(images.shape[1:]), images.dtype)
  out[order] = images[rows[order]]
  return out


def read_inputs(source, rows):
  """The model inputs of `rows`: an image array (frame sources) or a dict (video views)."""
  if hasattr(source, "inputs"):
    return {k: read_rows(v, rows) for k, v in source.inputs.items()}
  return read_rows(source.images, rows)


def train_batches(source, order, start_step, end_step, sharding, prefetch=2, augment_cfg=None):
  """Yields (step, {'images' | 'inputs', 'labels'}) as global jax Arrays, read ahead on a thread.

  Frame sources give 'images' [B,H,W,3]; video views give 'inputs', a dict of [B, ...] arrays.
  `augment_cfg` (config.augment): host-side self-blending and robustness distortions of frame
  batches (input/augment.py), drawn from (seed, step, host) so a resumed run repeats them.
  """
  pid, nproc = jax.process_index(), jax.process_count()
  host_augment = (augment_cfg is not None and not hasattr(source, "inputs") and
                  augment.enabled(augment_cfg))

  def make(step):
    rows = host_rows(order.batch(step), pid, nproc)
    key = "inputs" if hasattr(source, "inputs") else "images"
    batch = {key: read_inputs(source, rows), "labels": source.labels[rows]}
    if host_augment:
      rng = np.random.default_rng([order.seed, step, pid])
      batch[key], batch["labels"] = augment.apply_augmentations(batch[key], batch["labels"], rng,
                                                                augment_cfg)
    return jax.tree.map(lambda a: jax.make_array_from_process_local_data(sharding, a), batch)

  yield from _prefetched((s, make(s)) for s in range(start_step, end_step)) if prefetch else (
      (s, make(s)) for s in range(start_step, end_step))


def eval_batches(source, batch_size, sharding):
  """Every frame once, in order, padded to whole global batches; yields (batch, n_valid)."""
  pid, nproc = jax.process_index(), jax.process_count()
  n = len(source)
  for start in range(0, n, batch_size):
    rows = np.arange(start, start + batch_size)
    valid = int(np.sum(rows < n))
    rows = host_rows(np.minimum(rows, n - 1), pid, nproc)
    yield jax.tree.map(lambda a: jax.make_array_from_process_local_data(sharding, a),
                       read_inputs(source, rows)), valid


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
