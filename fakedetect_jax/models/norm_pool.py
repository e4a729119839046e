"""Batch norm followed by k x k max pooling, computed as one op: the MesoNets' block ending.

The same function and gradients as `layers.BatchNorm` then `layers.max_pool_same` (float
rounding aside), with fewer passes over the full-resolution map, where XLA:CPU spent most of
Meso4's step: a trace had its first block (256² x 8 maps, 67 MB each at batch 32) at ~70% of
the step, in ten separate elementwise and reduction passes forward and backward.

- Batch norm is a per-channel affine map a*y + c, and a monotone map commutes with max pooling,
  exactly in floats too (rounding is monotone). So the op pools sign(a)*y (a min pool where
  a < 0) and normalises the pooled map, a quarter of the size, in training and inference.
- Backward, the normalisation's gradient needs two per-channel sums, which the pooled map and
  its cotangent give; the full-resolution gradient is then one fused pass (the pooled gradient
  placed at each window's first maximum, as nn.max_pool's gradient does, minus the batch-norm
  terms), which XLA also fuses with the ReLU mask before it.

That is an XLA:CPU rewrite (`backend.use_cpu_rewrites()`): on GPU and TPU the op is batch norm
by its formula (JAX's gradient, as nn.BatchNorm) then nn.max_pool, which XLA fuses well there;
the same variables either way.
"""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from fakedetect_jax.models import backend
from fakedetect_jax.models.layers import (batch_moments, max_pool_same, pool_with_argmax,
                                          unpool_to_first)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _norm_pool_train(y, scale, offset, k, eps):
  return _norm_pool_train_fwd(y, scale, offset, k, eps)[0]


def _norm_pool_train_fwd(y, scale, offset, k, eps):
  yf = y.astype(jnp.float32)
  mean, var = batch_moments(yf)
  inv = jax.lax.rsqrt(var + eps)
  a = scale * inv
  sign = jnp.where(a < 0, -1.0, 1.0)
  m, first = pool_with_argmax(sign * yf, k)
  out = jnp.abs(a) * m + (offset - mean * a)
  return (out.astype(y.dtype), mean, var), (y, scale, mean, inv, sign, m, first)


def _norm_pool_train_bwd(k, eps, res, cts):
  # (mean, var) feed only the running averages: their cotangents are zero.
  y, scale, mean, inv, sign, m, first = res
  g = cts[0].astype(jnp.float32)
  b, h, w, c = y.shape
  n = b * h * w
  axes = (0, 1, 2)
  g_offset = jnp.sum(g, axes)
  g_scale = jnp.sum(g * ((sign * m - mean) * inv), axes)
  # The textbook gradient inv * (routed g*scale - scale * (g_offset + yhat * g_scale) / n),
  # yhat = (y - mean) * inv, with its per-channel parts folded: routed gi - c0 - c1 * y.
  c0 = inv * scale * (g_offset - mean * inv * g_scale) / n
  c1 = inv * inv * scale * g_scale / n
  yw = y.astype(jnp.float32).reshape(b, h // k, k, w // k, k, c)
  gy = unpool_to_first(g * (scale * inv), first, k) - c0 - c1 * yw
  return gy.reshape(y.shape).astype(y.dtype), g_scale, g_offset


_norm_pool_train.defvjp(_norm_pool_train_fwd, _norm_pool_train_bwd)


class BatchNormMaxPool(nn.Module):
  """`layers.BatchNorm` (nn.BatchNorm's variables, names and numbers) then k x k max pooling
  with stride k and SAME padding. Name it as the batch norm it replaces ('BatchNorm_0') and
  checkpoints carry over. In training, sizes k does not divide take the two-step path, as do
  backends other than CPU (batch norm then `max_pool_same`, which is nn.max_pool there)."""
  pool: int
  use_running_average: bool = False
  momentum: float = 0.99
  epsilon: float = 1e-3
  dtype: jnp.dtype = None

  @nn.compact
  def __call__(self, y):
    c = y.shape[-1]
    ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((c,), jnp.float32))
    ra_var = self.variable("batch_stats", "var", lambda: jnp.ones((c,), jnp.float32))
    scale = self.param("scale", nn.initializers.ones, (c,), jnp.float32)
    offset = self.param("bias", nn.initializers.zeros, (c,), jnp.float32)
    dtype = self.dtype or y.dtype
    k = self.pool
    rewrite = backend.use_cpu_rewrites()
    divisible = y.shape[1] % k == 0 and y.shape[2] % k == 0
    if self.use_running_average and not rewrite:  # GPU / TPU: normalise, then nn.max_pool
      a = scale * jax.lax.rsqrt(ra_var.value + self.epsilon)
      out = (y.astype(jnp.float32) - ra_mean.value) * a + offset
      return max_pool_same(out, k).astype(dtype)
    if self.use_running_average:  # pool first here too (SAME padding is -inf: never a max)
      a = scale * jax.lax.rsqrt(ra_var.value + self.epsilon)
      sign = jnp.where(a < 0, -1.0, 1.0)
      m = max_pool_same(sign * y.astype(jnp.float32), k)
      return (jnp.abs(a) * m + (offset - ra_mean.value * a)).astype(dtype)
    if rewrite and divisible:
      out, mean, var = _norm_pool_train(y, scale, offset, k, self.epsilon)
    else:
      mean, var = batch_moments(y.astype(jnp.float32))
      out = (y.astype(jnp.float32) - mean) * (jax.lax.rsqrt(var + self.epsilon) * scale) + offset
      out = max_pool_same(out, k)
    if not self.is_initializing():
      ra_mean.value = self.momentum * ra_mean.value + (1 - self.momentum) * mean
      ra_var.value = self.momentum * ra_var.value + (1 - self.momentum) * var
    return out.astype(dtype)
