"""Shared bits of the model-zoo tests (no tests in here): reduced variants and tiny training.

The full models are checked without computing (parameter counts, shapes by jax.eval_shape) and
by conversion from full Keras models; training runs use these narrow, shallow variants of the
same code, so the whole zoo trains in seconds on 2 cores.
"""
import jax
import jax.numpy as jnp
import numpy as np

import frames_fixture
from fakedetect_jax import config_lib, models
from fakedetect_jax.train import state as state_lib
from fakedetect_jax.train.step import make_train_step

# name -> tiny constructor kwargs; the input size is 32 px or the spec's min_size if larger.
TINY = {
    "xception": dict(width=1 / 16, middle_blocks=1),
    "spsl": dict(width=1 / 16, middle_blocks=1),
    "srm": dict(width=1 / 16, middle_blocks=1),
    "efficientnet_b0": dict(width=0.25, depth=0.3, stages=3, drop_connect=0.0),
    "efficientnet_b4_att": dict(
        width=0.25, depth=0.3, stages=3, attention_after=1, drop_connect=0.0),
    "resnext50_32x4d": dict(layers=(1, 1, 1, 1), stem=16, groups=4, base_width=16),
    "inception_resnet_v2": dict(repeats=(1, 1, 1), width=1 / 16),
    "vit_s16": dict(dim=32, depth=2, heads=2, patch=8),
    "cross_efficient_vit": dict(
        trunk_width=0.25,
        trunk_depth=0.3,
        trunk_stages=2,
        depth=1,
        sm_dim=32,
        lg_dim=48,
        sm_depth=1,
        lg_depth=1,
        sm_mlp=64,
        lg_mlp=64,
        heads=2,
        head_dim=16,
        cross_depth=1,
        lg_block=1,
        trunk_drop_connect=0.0,
        encoder_dropout=0.0),
    "conv_vit": dict(stages=((8, 1), (16, 1), (16, 1), (32, 1)), dim=32, depth=1, heads=2, mlp=64),
}


def tiny_model(name, **extra):
  """(the reduced variant of a registered model, its input size)."""
  return (models.get_model(name, **{
      **TINY[name],
      **extra
  }), max(32, models.REGISTRY[name].min_size))


# Compiling is most of what these tests spend; LLVM's optimisation level 0 compiles the tiny
# models ~40% faster (same XLA graph, same numbers up to float rounding).
FAST_COMPILE = {"xla_backend_optimization_level": 0}


def compiled(jitted, *args):
  return jitted.lower(*args).compile(compiler_options=FAST_COMPILE)


def init(model, size, seed=0):
  """Variables ({'params', 'batch_stats'}) of a model for [size, size] inputs, jit-compiled
  with non-partitionable threefry (see train)."""
  with jax.threefry_partitionable(False):
    v = compiled(jax.jit(lambda: model.init(jax.random.key(seed), jnp.zeros((1, size, size, 3)))))()
  return {k: v[k] for k in ("params", "batch_stats") if k in v}


def faces(size, n_per_class=8, seed=0):
  rng = np.random.default_rng(seed)
  images = np.concatenate(
      [frames_fixture.face_frames(n_per_class, size, fake, rng) for fake in (0, 1)])
  return images, np.repeat([0, 1], n_per_class).astype(np.int32)


def train(model, images, labels, steps, devices=None, lr=3e-3, seed=0):
  """Trains through the project's train step on a mesh of `devices` (default: all, i.e. the 8
  simulated ones); returns (state, per-step losses, per-step training accuracy).

  Overfitting is judged on the train step's own loss and accuracy (train-mode batch norm):
  a few dozen steps leave Keras-style (momentum 0.99) running averages far from the batch
  statistics, and a separate evaluation would cost another compile. Non-partitionable
  threefry: XLA:CPU compiles the random initialisers of partitionable threefry 2-3x slower,
  and compiling is most of what these tests spend.
  """
  with jax.threefry_partitionable(False):
    return _train(model, images, labels, steps, devices, lr, seed)


def _train(model, images, labels, steps, devices, lr, seed):
  config = config_lib.base_config()
  config.augment.flip, config.augment.brightness = False, 0.0
  config.optimizer.learning_rate = lr
  config.optimizer.schedule = "constant"
  mesh = state_lib.make_mesh(devices)
  tx = state_lib.make_optimizer(config.optimizer, steps)
  rep = state_lib.replicated(mesh)
  state = compiled(
      jax.jit(lambda: state_lib.create_state(model, tx, images.shape[1], seed),
              out_shardings=rep))()
  batch = jax.device_put({
      "inputs": {
          "image": images
      },
      "labels": labels
  }, state_lib.batch_sharding(mesh))
  key, losses, accuracy = jax.random.key(seed), [], []
  step = compiled(make_train_step(model, tx, config, mesh), state, batch, key)
  for _ in range(steps):
    state, metrics = step(state, batch, key)
    jax.block_until_ready(metrics)  # simulated devices deadlock with too many steps queued
    losses.append(float(metrics["loss_sum"]))
    accuracy.append(float(metrics["correct"] / metrics["count"]))
  return state, losses, accuracy


def to_unit(images):
  """uint8 -> [-1, 1] float32, as the train step feeds models."""
  return jnp.asarray(images, jnp.float32) / 127.5 - 1.0
