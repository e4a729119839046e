"""nn.Conv (stride 1, SAME padding, optional dilation) with its kernel gradient summed over
batch chunks of 16 examples per device on CPU.

XLA:CPU computes a convolution's kernel gradient as one library call whose speed depends on
the batch it contracts over: Meso4's first conv (3 -> 8 channels at 256², batch 32) took
113 ms as one call and 40 ms as two calls of 16 (its third: 21 -> 11 ms; no layer slower).
Same variables, initialisation and outputs as nn.Conv; gradients equal up to float rounding
(the sum is regrouped). Other backends (`backend.use_cpu_rewrites()` False: their kernel
gradient does not gain from smaller batches, and each chunk is one more launch), and batches
under 32 per device, take the plain path.
"""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from fakedetect_jax.models import backend

CHUNK = 16  # examples per kernel-gradient call on CPU


def _conv(x, kernel, dilation):
  return lax.conv_general_dilated(
      x,
      kernel, (1, 1),
      "SAME",
      rhs_dilation=(dilation,) * 2,
      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def kernel_grad_chunks(batch):
  """How many chunks the kernel gradient of a `batch` (global) is split into here."""
  per_device = batch // jax.device_count()
  if not backend.use_cpu_rewrites() or per_device < 2 * CHUNK or batch % (jax.device_count() *
                                                                          CHUNK):
    return 1
  return per_device // CHUNK


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _chunked_conv(x, kernel, dilation, chunks):
  return _conv(x, kernel, dilation)


def _chunked_conv_fwd(x, kernel, dilation, chunks):
  return _conv(x, kernel, dilation), (x, kernel)


def _chunked_conv_bwd(dilation, chunks, res, g):
  x, kernel = res
  _, input_vjp = jax.vjp(lambda x: _conv(x, kernel, dilation), x)
  # Chunk c takes rows c, c + chunks, ...: with the batch sharded over devices, every device
  # keeps an equal share of every chunk.
  split = lambda t: t.reshape(t.shape[0] // chunks, chunks, *t.shape[1:])
  xs, gs = split(x), split(g)
  g_kernel = None
  for c in range(chunks):
    _, kernel_vjp = jax.vjp(lambda k: _conv(xs[:, c], k, dilation), kernel)
    part = kernel_vjp(gs[:, c])[0]
    g_kernel = part if g_kernel is None else g_kernel + part
  return input_vjp(g)[0], g_kernel


_chunked_conv.defvjp(_chunked_conv_fwd, _chunked_conv_bwd)


class Conv(nn.Module):
  """nn.Conv(features, (k, k), padding='SAME', kernel_dilation=dilation): same variables."""
  features: int
  kernel_size: int
  dilation: int = 1
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    k = self.kernel_size
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        (k, k, x.shape[-1], self.features), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
    x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    chunks = kernel_grad_chunks(x.shape[0])
    y = (
        _conv(x, kernel, self.dilation) if chunks == 1 else _chunked_conv(
            x, kernel, self.dilation, chunks))
    return y + bias.astype(self.dtype)
