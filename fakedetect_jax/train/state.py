"""Train state, optimizer and the device mesh."""
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from fakedetect_jax.errors import ConfigError


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


def make_optimizer(opt, total_steps):
  """optax transform from config.optimizer."""
  lr = make_schedule(opt, total_steps)
  if opt.name == "adam":
    tx = optax.adam(lr)
  elif opt.name == "adamw":
    tx = optax.adamw(lr, weight_decay=opt.weight_decay)
  elif opt.name == "sgd":
    tx = optax.sgd(lr, momentum=opt.momentum, nesterov=True)
  else:
    raise ConfigError(f"unknown optimizer {opt.name!r}; known: adam, adamw, sgd")
  if opt.grad_clip_norm:
    tx = optax.chain(optax.clip_by_global_norm(opt.grad_clip_norm), tx)
  return tx


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
