"""Train state, optimizer and the device mesh.

Frozen parameters (a model spec's `trainable` pattern, models/registry.py) stay in
`TrainState.params` (checkpoints hold the whole model) but get no optimizer state and no
gradient: `Partition` splits the params tree, the optimizer is initialised and updated on the
trainable part only and the train step differentiates with respect to it alone, so the frozen
part is in neither the Adam moments nor the gradient all-reduce.
"""
import re
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from fakedetect_jax.errors import ConfigError
from fakedetect_jax.models.registry import Partition


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  batch_stats: Any
  opt_state: Any


def make_mesh(devices=None):
  """A 1-D 'data' mesh over every device of every host (jax.devices() is global)."""
  devices = np.asarray(devices if devices is not None else jax.devices())
  return Mesh(devices.reshape(-1), ("data",))


def batch_sharding(mesh):
  return NamedSharding(mesh, P("data"))


def replicated(mesh):
  return NamedSharding(mesh, P())


def make_schedule(opt, total_steps):
  """Learning rate as a function of step, from config.optimizer."""
  if opt.schedule == "cosine":
    lr = optax.warmup_cosine_decay_schedule(0.0, opt.learning_rate, opt.warmup_steps,
                                            max(total_steps, opt.warmup_steps + 1))
  elif opt.schedule == "constant":
    lr = optax.join_schedules([
        optax.linear_schedule(0.0, opt.learning_rate, opt.warmup_steps),
        optax.constant_schedule(opt.learning_rate)
    ], [opt.warmup_steps])
  else:
    raise ConfigError(f"unknown learning-rate schedule {opt.schedule!r}; known: cosine, constant")
  return lr


def trainable_pattern(config):
  """The `trainable` pattern of config.model.name's spec (None for models not registered)."""
  from fakedetect_jax import models
  name = config.model.get("name") if "model" in config else None
  return models.REGISTRY[name].trainable if name in models.REGISTRY else None


def scale_by_path(factors):
  """Multiplies the updates of parameters whose '/'-joined path matches a pattern (re.search)
  by its factor (the first that matches): per-part learning rates, e.g. {'^tower/': 0.1}."""
  rules = [(re.compile(k), float(v)) for k, v in dict(factors).items()]

  def factor(path):
    name = "/".join(getattr(k, "key", str(k)) for k in path)
    return next((f for r, f in rules if r.search(name)), 1.0)

  def update(updates, state, params=None):
    del params
    return jax.tree_util.tree_map_with_path(lambda p, u: u * factor(p), updates), state

  return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def only_trainable(tx, partition):
  """`tx` on the trainable part of the params: init(params) and update(grads, state, params)
  take the whole tree or its trainable part and return updates of the trainable part."""
  if partition.pattern is None:
    return tx

  def update(grads, state, params=None):
    params = None if params is None else partition.trainable(params)
    return tx.update(partition.trainable(grads), state, params)

  return optax.GradientTransformation(lambda params: tx.init(partition.trainable(params)), update)


def make_optimizer(opt, total_steps, trainable=None):
  """optax transform from config.optimizer, on the parameters `trainable` (a spec's pattern,
  `trainable_pattern(config)`) selects. opt.lr_scale, where set, scales the learning rate of
  parts ({path pattern: factor})."""
  lr = make_schedule(opt, total_steps)
  if opt.name == "adam":
    tx = optax.adam(lr)
  elif opt.name == "adamw":
    tx = optax.adamw(lr, weight_decay=opt.weight_decay)
  elif opt.name == "sgd":
    tx = optax.sgd(lr, momentum=opt.momentum, nesterov=True)
  else:
    raise ConfigError(f"unknown optimizer {opt.name!r}; known: adam, adamw, sgd")
  if opt.get("lr_scale"):
    tx = optax.chain(tx, scale_by_path(opt.lr_scale))
  if opt.grad_clip_norm:
    tx = optax.chain(optax.clip_by_global_norm(opt.grad_clip_norm), tx)
  return only_trainable(tx, Partition(trainable))


def optimizer(config):
  """The optimizer of a run: make_optimizer from its optimizer block, steps and model spec."""
  return make_optimizer(config.optimizer, config.total_steps, trainable_pattern(config))


def create_state(model, tx, image_size, seed, example=None):
  """Initial state; the same on every host because it comes from the same seed.

  `example`: one row of model inputs for video views (a dict); frame models get an image.
  """
  x = jnp.zeros(
      (1, image_size, image_size,
       3)) if example is None else jax.tree.map(lambda a: jnp.zeros(a.shape, jnp.float32), example)
  variables = model.init(jax.random.key(seed), x, train=False)
  params = variables["params"]
  return TrainState(
      step=jnp.array(0, jnp.int32),
      params=params,
      batch_stats=variables.get("batch_stats", {}),
      opt_state=tx.init(params))
