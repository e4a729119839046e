"""The data-parallel train and eval steps.

One jit over a 'data' mesh: the batch is sharded across every device of every host and the
state is replicated, so XLA inserts the gradient all-reduce (and batch-norm statistics are over
the global batch). This is what pmap-style training is in today's JAX.
"""

import jax
import jax.numpy as jnp
import optax

from fakedetect_jax.train.state import batch_sharding, replicated


def preprocess(images, dtype=jnp.float32):
  """uint8 [B,H,W,3] -> dtype in [-1, 1]."""
  return (images.astype(jnp.float32) / 127.5 - 1.0).astype(dtype)


def _augment(images, rng, aug):
  if aug.flip:
    flip = jax.random.bernoulli(jax.random.fold_in(rng, 0), 0.5, (images.shape[0], 1, 1, 1))
    images = jnp.where(flip, images[:, :, ::-1], images)
  if aug.brightness:
    delta = jax.random.uniform(jax.random.fold_in(rng, 1), (images.shape[0], 1, 1, 1),
                               minval=-aug.brightness, maxval=aug.brightness)
    images = jnp.clip(images + 2 * delta, -1.0, 1.0)
  return images


def make_train_step(model, tx, config, mesh):
  """Returns jitted train_step(state, batch, rng) -> (state, metrics); state is donated.

  metrics holds sums (loss_sum, correct, count, nonfinite) so the loop can add them up on the
  device and fetch only at logging steps.
  """
  accum = config.grad_accum_steps
  dtype = jnp.dtype(config.compute_dtype)

  def loss_fn(params, batch_stats, images, labels, rng):
    logits, updates = model.apply({"params": params, "batch_stats": batch_stats}, images,
                                  train=True, rngs={"dropout": rng}, mutable=["batch_stats"])
    losses = optax.sigmoid_binary_cross_entropy(logits, labels.astype(jnp.float32))
    return losses.mean(), (updates["batch_stats"], logits)

  def train_step(state, batch, rng):
    rng = jax.random.fold_in(rng, state.step)
    images = _augment(preprocess(batch["images"]), jax.random.fold_in(rng, 1), config.augment)
    images, labels = images.astype(dtype), batch["labels"]
    # Micro-batch i is rows i, i+accum, ...: every device's shard holds some of each, so each
    # micro-batch is data-parallel too, and the split does not depend on the device count.
    micro = lambda x, i: x.reshape((-1, accum) + x.shape[1:])[:, i]
    # Micro-batches as straight-line code, not lax.scan: XLA:CPU runs a conv net's backward
    # pass several times slower inside a while-loop body.
    grads, batch_stats, losses, correct = None, state.batch_stats, [], []
    for i in range(accum):
      (loss, (batch_stats, logits)), g = jax.value_and_grad(loss_fn, has_aux=True)(
          state.params, batch_stats, micro(images, i), micro(labels, i),
          jax.random.fold_in(rng, 2 + i))
      grads = g if grads is None else jax.tree.map(jnp.add, grads, g)
      losses.append(loss)
      correct.append(jnp.sum((logits > 0) == (micro(labels, i) > 0)))
    grads = jax.tree.map(lambda g: g / accum, grads)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    new_state = state.replace(step=state.step + 1, params=params, batch_stats=batch_stats,
                              opt_state=opt_state)
    loss = jnp.mean(jnp.stack(losses))
    metrics = {"loss_sum": loss, "correct": jnp.sum(jnp.stack(correct)).astype(jnp.float32),
               "count": jnp.float32(labels.shape[0]),
               "nonfinite": (~jnp.isfinite(loss)).astype(jnp.float32)}
    return new_state, metrics

  rep, data = replicated(mesh), batch_sharding(mesh)
  return jax.jit(train_step, in_shardings=(rep, data, rep), out_shardings=(rep, rep),
                 donate_argnums=(0,))


def make_eval_step(model, config, mesh):
  """Returns jitted eval_step(state, images) -> fake probabilities, replicated on every host."""
  dtype = jnp.dtype(config.compute_dtype)

  def eval_step(state, images):
    logits = model.apply({"params": state.params, "batch_stats": state.batch_stats},
                         preprocess(images, dtype), train=False)
    return jax.nn.sigmoid(logits.astype(jnp.float32))

  return jax.jit(eval_step, in_shardings=(replicated(mesh), batch_sharding(mesh)),
                 out_shardings=replicated(mesh))
