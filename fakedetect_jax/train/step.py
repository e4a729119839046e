"""The data-parallel train and eval steps.

One jit over a 'data' mesh: the batch is sharded across every device of every host and the
state is replicated, so XLA inserts the gradient all-reduce (and batch-norm statistics are over
the global batch). This is what pmap-style training is in today's JAX.
"""

import jax
import jax.numpy as jnp
import optax

from fakedetect_jax.errors import ConfigError
from fakedetect_jax.train import objectives
from fakedetect_jax.train.state import Partition, batch_sharding, replicated, trainable_pattern


def preprocess(images, dtype=jnp.float32):
  """uint8 [B,H,W,3] -> dtype in [-1, 1]."""
  return (images.astype(jnp.float32) / 127.5 - 1.0).astype(dtype)


def prepare_inputs(x, dtype=jnp.float32):
  """Normalised model inputs from a batch's "inputs" dict (or a bare image array).

  Pixels (uint8 frames, mouth crops) go to [-1, 1]; audio to dtype; masks and per-frame
  scalars stay float32 (they gate or feed small heads).
  """
  if not isinstance(x, dict):
    return preprocess(x, dtype)
  return {
      k: preprocess(v, dtype) if v.dtype == jnp.uint8 else
         v.astype(dtype) if k == "audio" else v.astype(jnp.float32) for k, v in x.items()
  }


def _augment(images, rng, aug):
  if isinstance(images, dict):
    # Pixel arrays: 'image' (frames view), 'frames' and 'mouth' (video views).
    # The same flip / brightness for every frame of a clip (a per-frame change would be
    # exactly the flicker the temporal branch must learn to see).
    out = dict(images)
    for i, k in enumerate(k for k in ("image", "frames", "mouth") if k in images):
      out[k] = _augment(images[k], jax.random.fold_in(rng, 10 + i) if k == "mouth" else rng, aug)
    return out
  shape = (images.shape[0],) + (1,) * (images.ndim - 1)
  if aug.flip:
    flip = jax.random.bernoulli(jax.random.fold_in(rng, 0), 0.5, shape)
    axis = images.ndim - 2 if images.shape[-1] == 3 else images.ndim - 1
    images = jnp.where(flip, jnp.flip(images, axis), images)
  if aug.brightness:
    delta = jax.random.uniform(
        jax.random.fold_in(rng, 1), shape, minval=-aug.brightness, maxval=aug.brightness)
    images = jnp.clip(images + 2 * delta, -1.0, 1.0)
  return images


def _model_inputs(inputs, config):
  return objectives.model_input(inputs, config.data.get("view", "frames"))


def make_train_step(model, tx, config, mesh):
  """Returns jitted train_step(state, batch, rng) -> (state, metrics); state is donated.

  batch: {"inputs": {name: [B, ...]}, "labels": int32 [B]} plus the keys the objective
  (config.objective, train/objectives.py) names in `extra_keys`. metrics holds sums (loss_sum,
  correct, count, nonfinite) so the loop can add them up on the device and fetch only at
  logging steps.
  """
  accum = config.grad_accum_steps
  dtype = jnp.dtype(config.compute_dtype)
  objective = objectives.get(config.get("objective", "classify"))
  # Gradients of the trainable part only (the spec's pattern): frozen weights get none, so
  # they are neither all-reduced nor seen by the optimizer (train/state.py).
  partition = Partition(trainable_pattern(config))

  def loss_fn(trainable, frozen, batch_stats, inputs, labels, extras, rng):
    variables = {"params": partition.merge(trainable, frozen), "batch_stats": batch_stats}
    losses, correct, batch_stats = objective.loss(model, variables, inputs, labels, rng, **extras)
    return jnp.mean(losses), (batch_stats, correct)

  def train_step(state, batch, rng):
    missing = [k for k in ("inputs", "labels") + tuple(objective.extra_keys) if k not in batch]
    if missing:
      raise ConfigError(f"objective {config.get('objective', 'classify')!r} needs batch keys "
                        f"{missing}; the batch has {sorted(batch)}")
    rng = jax.random.fold_in(rng, state.step)
    inputs = _augment(prepare_inputs(batch["inputs"]), jax.random.fold_in(rng, 1), config.augment)
    inputs = jax.tree.map(
        lambda a: a.astype(dtype) if a.dtype == jnp.float32 and a.ndim >= 4 else a, inputs)
    inputs = _model_inputs(inputs, config)
    labels = batch["labels"]
    extras = {k: batch[k] for k in objective.extra_keys}
    # Micro-batch i is rows i, i+accum, ...: every device's shard holds some of each, so each
    # micro-batch is data-parallel too, and the split does not depend on the device count.
    micro = lambda x, i: jax.tree.map(lambda a: a.reshape((-1, accum) + a.shape[1:])[:, i], x)
    # Micro-batches as straight-line code, not lax.scan: XLA:CPU runs a conv net's backward
    # pass several times slower inside a while-loop body.
    trainable, frozen = partition.split(state.params)
    grads, batch_stats, losses, correct = None, state.batch_stats, [], []
    for i in range(accum):
      (loss, (batch_stats, n_correct)), g = jax.value_and_grad(
          loss_fn, has_aux=True)(trainable, frozen, batch_stats, micro(inputs, i), micro(labels, i),
                                 micro(extras, i), jax.random.fold_in(rng, 2 + i))
      grads = g if grads is None else jax.tree.map(jnp.add, grads, g)
      losses.append(loss)
      correct.append(n_correct)
    grads = jax.tree.map(lambda g: g / accum, grads)
    updates, opt_state = tx.update(grads, state.opt_state, trainable)
    params = partition.merge(optax.apply_updates(trainable, updates), frozen)
    new_state = state.replace(
        step=state.step + 1, params=params, batch_stats=batch_stats, opt_state=opt_state)
    loss = jnp.mean(jnp.stack(losses))
    metrics = {
        "loss_sum": loss,
        "correct": jnp.sum(jnp.stack(correct)).astype(jnp.float32),
        "count": jnp.float32(labels.shape[0]),
        "nonfinite": (~jnp.isfinite(loss)).astype(jnp.float32)
    }
    return new_state, metrics

  rep, data = replicated(mesh), batch_sharding(mesh)
  return jax.jit(
      train_step, in_shardings=(rep, data, rep), out_shardings=(rep, rep), donate_argnums=(0,))


def make_eval_step(model, config, mesh):
  """Returns jitted eval_step(state, inputs) -> the objective's scores (a fake probability per
  row for classify and sync), replicated on every host; inputs: a batch's "inputs" dict."""
  dtype = jnp.dtype(config.compute_dtype)
  objective = objectives.get(config.get("objective", "classify"))

  def eval_step(state, inputs):
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    return objective.score(model, variables, _model_inputs(prepare_inputs(inputs, dtype), config))

  return jax.jit(
      eval_step,
      in_shardings=(replicated(mesh), batch_sharding(mesh)),
      out_shardings=replicated(mesh))
