"""MesoNet (Afchar et al., 2018): small CNNs that look at mesoscopic image detail.

Meso4 at 256x256x3 has 27,977 trainable parameters, like the authors' Keras model (batch-norm
scale and offset count as trainable; running statistics do not).

layout='deepfakebench' is the variant DeepfakeBench trains (its networks/mesonet.py), for its
released checkpoints (models/deepfakebench): PyTorch's batch-norm epsilon (1e-5), and
MesoInception4's inception branches without ReLUs (its branches are plain convs, concatenated
and normalised). Its convs have no bias and reuse one batch norm for two blocks; the importer
writes zero biases and the shared statistics into both blocks, which computes the same at test
time.
"""
import flax.linen as nn
import jax.numpy as jnp

from fakedetect_jax.models.conv import Conv
from fakedetect_jax.models.norm_pool import BatchNormMaxPool
from fakedetect_jax.models.registry import ModelSpec, register

LAYOUTS = ("keras", "deepfakebench")


def _bn_epsilon(layout):
  if layout not in LAYOUTS:
    raise ValueError(f"layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
  return 1e-3 if layout == "keras" else 1e-5


class _ConvBlock(nn.Module):
  features: int
  kernel: int
  pool: int
  dtype: jnp.dtype = jnp.float32
  epsilon: float = 1e-3

  @nn.compact
  def __call__(self, x, train):
    x = Conv(self.features, self.kernel, dtype=self.dtype)(x)
    x = nn.relu(x)
    return BatchNormMaxPool(
        self.pool, not train, 0.99, self.epsilon, self.dtype, name="BatchNorm_0")(
            x)


class _Inception(nn.Module):
  """Four parallel branches: 1x1, 3x3, and 3x3 dilated by 2 and 3, concatenated."""
  a: int
  b: int
  c: int
  d: int
  dtype: jnp.dtype = jnp.float32
  relu: bool = True

  @nn.compact
  def __call__(self, x):
    conv = lambda f, k, dil=1: Conv(f, k, dil, self.dtype)
    act = nn.relu if self.relu else (lambda y: y)
    x1 = act(conv(self.a, 1)(x))
    x2 = act(conv(self.b, 3)(act(conv(self.b, 1)(x))))
    x3 = act(conv(self.c, 3, 2)(act(conv(self.c, 1)(x))))
    x4 = act(conv(self.d, 3, 3)(act(conv(self.d, 1)(x))))
    return jnp.concatenate([x1, x2, x3, x4], axis=-1)


class _Head(nn.Module):
  dropout: float
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train):
    x = x.reshape(x.shape[0], -1)
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    x = nn.leaky_relu(nn.Dense(16, dtype=self.dtype)(x), 0.1)
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return nn.Dense(1, dtype=self.dtype)(x)[:, 0]


class Meso4(nn.Module):
  """Four conv blocks (8, 8, 16, 16 filters) and a 16-unit dense layer; one logit out."""
  dropout: float = 0.5
  dtype: jnp.dtype = jnp.float32
  layout: str = "keras"

  @nn.compact
  def __call__(self, x, train=False):
    eps = _bn_epsilon(self.layout)
    x = x.astype(self.dtype)
    for features, kernel, pool in ((8, 3, 2), (8, 5, 2), (16, 5, 2), (16, 5, 4)):
      x = _ConvBlock(features, kernel, pool, self.dtype, eps)(x, train)
    return _Head(self.dropout, self.dtype)(x, train).astype(jnp.float32)


class MesoInception4(nn.Module):
  """Meso4 with its first two blocks replaced by inception modules."""
  dropout: float = 0.5
  dtype: jnp.dtype = jnp.float32
  layout: str = "keras"

  @nn.compact
  def __call__(self, x, train=False):
    eps = _bn_epsilon(self.layout)
    relu = self.layout == "keras"
    x = x.astype(self.dtype)
    bn_pool = lambda i: BatchNormMaxPool(2, not train, 0.99, eps, self.dtype, name=f"BatchNorm_{i}")
    x = bn_pool(0)(_Inception(1, 4, 4, 2, self.dtype, relu)(x))
    x = bn_pool(1)(_Inception(2, 4, 4, 2, self.dtype, relu)(x))
    x = _ConvBlock(16, 5, 2, self.dtype, eps)(x, train)
    x = _ConvBlock(16, 5, 4, self.dtype, eps)(x, train)
    return _Head(self.dropout, self.dtype)(x, train).astype(jnp.float32)


# Four max pools, total stride 32. Batch 32 in the benchmarks (8 for the big zoo models). No
# cam_tap: predict's Grad-CAM finds the feature map from the outside (predict/gradcam.py).
register("meso4", ModelSpec(Meso4, default_size=256, min_size=32, bench_batch=32))
register("mesoinception4", ModelSpec(MesoInception4, default_size=256, min_size=32, bench_batch=32))
