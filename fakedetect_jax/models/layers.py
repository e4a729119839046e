"""Pieces shared by the model zoo: batch norm flavours, input normalisation, the one-logit head,
the Grad-CAM tap, and a pre-norm transformer encoder whose attention maps can be read back.

Every zoo model maps images in [-1, 1] to one logit; the backbone ends in `cam_tap` (CNNs) or
sows its attention weights (ViTs) so that `fakedetect_jax.explain` works on any of them.

The convolution, pooling and batch-norm layers here are backend-aware (`backend.py`): their
XLA:CPU rewrites on CPU, the native lax / flax ops on GPU and TPU, with the same variables.
"""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from fakedetect_jax.models import backend

# ImageNet statistics of [0, 1] pixels: Keras EfficientNet and timm's ResNeXt were trained on
# (x - mean) / std; Xception, InceptionResNetV2 and timm's ViTs on x * 2 - 1, our input as is.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet_normalize(x):
  """[-1, 1] images -> ImageNet mean/std normalised, as fixed arithmetic (no variables)."""
  x01 = (x + 1.0) * 0.5
  return (x01 - jnp.asarray(IMAGENET_MEAN, x.dtype)) / jnp.asarray(IMAGENET_STD, x.dtype)


def keras_bn(train, dtype, name=None, scale=True):
  """Keras' BatchNormalization defaults (momentum 0.99, epsilon 1e-3), for Keras-born models."""
  return BatchNorm(
      use_running_average=not train,
      momentum=0.99,
      epsilon=1e-3,
      dtype=dtype,
      use_scale=scale,
      name=name)


def torch_bn(train, dtype, name=None):
  """PyTorch's BatchNorm2d defaults (momentum 0.1 -> 0.9 here, epsilon 1e-5), for timm models."""
  return BatchNorm(
      use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=dtype, name=name)


def batch_moments(xf):
  """Per-channel mean and variance over all but the last axis, by flax's formula."""
  axes = tuple(range(xf.ndim - 1))
  mean = jnp.mean(xf, axes)
  return mean, jnp.maximum(jnp.mean(jnp.square(xf), axes) - jnp.square(mean), 0.0)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _bn_train(x, scale, bias, eps):
  return _bn_train_fwd(x, scale, bias, eps)[0]


def _bn_train_fwd(x, scale, bias, eps):
  xf = x.astype(jnp.float32)
  mean, var = batch_moments(xf)
  inv = jax.lax.rsqrt(var + eps)
  y = ((xf - mean) * (inv * scale) + bias).astype(x.dtype)
  return (y, mean, var), (x, scale, mean, inv)


def _bn_train_bwd(eps, res, g):
  # The textbook batch-norm gradient in one pass of two reductions and one elementwise pass;
  # (mean, var) feed only the running averages, so their cotangents are zero.
  x, scale, mean, inv = res
  gy = g[0].astype(jnp.float32)
  axes = tuple(range(x.ndim - 1))
  n = x.size // x.shape[-1]
  xhat = (x.astype(jnp.float32) - mean) * inv
  g_bias = jnp.sum(gy, axes)
  g_scale = jnp.sum(gy * xhat, axes)
  gx = (scale * inv / n) * (n * gy - g_bias - xhat * g_scale)
  return gx.astype(x.dtype), g_scale, g_bias


_bn_train.defvjp(_bn_train_fwd, _bn_train_bwd)


def _bn_train_autodiff(x, scale, bias, eps):
  """The same forward, differentiated by JAX: nn.BatchNorm's gradient (GPU / TPU)."""
  return _bn_train_fwd(x, scale, bias, eps)[0]


class BatchNorm(nn.Module):
  """nn.BatchNorm over all but the last axis (same variables, names and numbers up to float
  rounding), with a hand-written gradient: Meso4's train step ran ~8% faster on XLA:CPU
  (measured alternately in one process). Other backends take JAX's gradient of the same
  forward, as nn.BatchNorm does (XLA fuses it well there). Named BatchNorm so auto-names
  ('BatchNorm_0') and checkpoints are nn.BatchNorm's. Single-device statistics only (no
  axis_name): under jit with a sharded batch XLA still reduces over the global batch, as for
  nn.BatchNorm."""
  use_running_average: bool = False
  momentum: float = 0.99
  epsilon: float = 1e-5
  dtype: jnp.dtype = None
  use_scale: bool = True

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((c,), jnp.float32))
    ra_var = self.variable("batch_stats", "var", lambda: jnp.ones((c,), jnp.float32))
    scale = (
        self.param("scale", nn.initializers.ones,
                   (c,), jnp.float32) if self.use_scale else jnp.ones((c,), jnp.float32))
    bias = self.param("bias", nn.initializers.zeros, (c,), jnp.float32)
    dtype = self.dtype or x.dtype
    if self.use_running_average:
      y = (x.astype(jnp.float32) - ra_mean.value) * (jax.lax.rsqrt(ra_var.value + self.epsilon) *
                                                     scale) + bias
      return y.astype(dtype)
    train = _bn_train if backend.use_cpu_rewrites() else _bn_train_autodiff
    y, mean, var = train(x, scale, bias, self.epsilon)
    if not self.is_initializing():
      ra_mean.value = self.momentum * ra_mean.value + (1 - self.momentum) * mean
      ra_var.value = self.momentum * ra_var.value + (1 - self.momentum) * var
    return y.astype(dtype)


def cam_tap(module, x):
  """Marks the last conv feature map: Grad-CAM reads it (sow) and its gradient (perturb).

  Both are no-ops in training: 'intermediates' is not mutable there and no 'perturbations'
  are passed, so the train step pays nothing.
  """
  x = module.perturb("cam_features", x)
  module.sow("intermediates", "cam_features", x)
  return x


class Head(nn.Module):
  """Global average pooling (for feature maps), dropout, one logit as float32 [B]."""
  dropout: float = 0.0
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train):
    if x.ndim == 4:
      x = jnp.mean(x, axis=(1, 2))
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return nn.Dense(1, dtype=self.dtype, name="logit")(x)[:, 0].astype(jnp.float32)


def _depthwise_taps(xp, kernel, k, s, outs):
  y = None
  for i in range(k):
    for j in range(k):
      window = xp[:, i:i + (outs[0] - 1) * s + 1:s, j:j + (outs[1] - 1) * s + 1:s]
      tap = window * kernel[i, j]
      y = tap if y is None else y + tap
  return y


class DepthwiseConv(nn.Module):
  """k x k depthwise convolution, 'SAME' padding (TF's: the odd pixel padded after) or the
  given explicit padding, no bias.

  The same function and parameter ('kernel' [k, k, 1, C], nn.Conv's grouped layout) as
  nn.Conv(C, (k, k), feature_group_count=C), computed as k*k shifted multiply-adds: XLA:CPU
  runs grouped convolutions 15x (forward) to 16x (backward) slower than this (measured on a
  [8, 32, 32, 728] map); whole train steps at 128 px, batch 8: Xception 2.3x, EfficientNet-B0
  3.6x faster. (A custom kernel gradient, a tree of halving adds, ran another 20% faster but
  compiled 3x slower.) On GPU and TPU the grouped convolution is the fast op and is used.
  """
  kernel_size: int
  strides: int = 1
  kernel_init: object = nn.initializers.lecun_normal()
  dtype: jnp.dtype = jnp.float32
  padding: object = None  # None: 'SAME'; or explicit ((top, bottom), (left, right))

  @nn.compact
  def __call__(self, x):
    k, s = self.kernel_size, self.strides
    c = x.shape[-1]
    kernel = self.param("kernel", self.kernel_init, (k, k, 1, c)).astype(self.dtype)
    if self.padding is None:
      pads, outs = [], []
      for n in x.shape[1:3]:
        out = -(-n // s)
        total = max((out - 1) * s + k - n, 0)
        pads.append((total // 2, total - total // 2))
        outs.append(out)
    else:
      pads = [tuple(p) for p in self.padding]
      outs = [(n + lo + hi - k) // s + 1 for n, (lo, hi) in zip(x.shape[1:3], pads)]
    if not backend.use_cpu_rewrites():
      dtype = jnp.result_type(x, kernel)  # the taps' type promotion, kept
      return jax.lax.conv_general_dilated(
          x.astype(dtype),
          kernel.astype(dtype), (s, s),
          pads,
          feature_group_count=c,
          dimension_numbers=("NHWC", "HWIO", "NHWC"))
    xp = jnp.pad(x, ((0, 0), *pads, (0, 0)))
    return _depthwise_taps(xp, kernel.reshape(k, k, c), k, s, outs)


class Conv1x1(nn.Module):
  """nn.Conv(features, (1, 1), strides, padding='SAME')'s function and variables ('kernel'
  [1, 1, C, features], optional 'bias'), computed as a matmul over the channel axis.

  XLA:CPU lowers a 1x1 convolution's kernel gradient as a convolution over transposed
  [C, H, W, B] copies that ran at ~3 GFLOP/s (a 128x128 one at 61x61x8: 0.3 s); as a matmul
  it is one dot. With stride s, SAME padding of a 1x1 window picks rows and columns 0, s, ...
  Other backends take nn.Conv's convolution (cuDNN / the TPU's own lowering are fine).
  """
  features: int
  strides: int = 1
  use_bias: bool = False
  kernel_init: object = nn.initializers.lecun_normal()
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    kernel = self.param("kernel", self.kernel_init, (1, 1, c, self.features))
    if not backend.use_cpu_rewrites():
      y = jax.lax.conv_general_dilated(
          x.astype(self.dtype),
          kernel.astype(self.dtype), (self.strides,) * 2,
          "SAME",
          dimension_numbers=("NHWC", "HWIO", "NHWC"))
    else:
      if self.strides > 1:
        x = x[:, ::self.strides, ::self.strides]
      y = jnp.dot(x.astype(self.dtype), kernel.reshape(c, self.features).astype(self.dtype))
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,)).astype(self.dtype)
    return y


def _grouped_native(x, kernel, s, padding, groups):
  return jax.lax.conv_general_dilated(
      x,
      kernel, (s, s),
      padding,
      feature_group_count=groups,
      dimension_numbers=("NHWC", "HWIO", "NHWC"))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _grouped(x, kernel, s, padding, groups):
  return _grouped_native(x, kernel, s, padding, groups)


def _grouped_fwd(x, kernel, s, padding, groups):
  return _grouped_native(x, kernel, s, padding, groups), (x, kernel)


def _grouped_bwd(s, padding, groups, res, g):
  x, kernel = res
  _, input_grad = jax.vjp(lambda a: _grouped_native(a, kernel, s, padding, groups), x)
  kh, kw, cg, o = kernel.shape
  b, ho, wo = g.shape[:3]
  xp = jnp.pad(x, ((0, 0), *padding, (0, 0)))
  gg = g.reshape(b, ho, wo, groups, o // groups)
  taps = [
      jnp.einsum(
          "bhwgc,bhwgo->cgo",
          xp[:, i:i + (ho - 1) * s + 1:s, j:j + (wo - 1) * s + 1:s].reshape(b, ho, wo, groups, cg),
          gg,
          preferred_element_type=jnp.float32) for i in range(kh) for j in range(kw)
  ]
  return input_grad(g)[0], jnp.stack(taps).reshape(kernel.shape).astype(kernel.dtype)


_grouped.defvjp(_grouped_fwd, _grouped_bwd)


class GroupedConv(nn.Module):
  """Grouped convolution (ResNeXt's 3x3), no bias: nn.Conv(features, feature_group_count=
  groups)'s function and 'kernel' [k, k, C/groups, features].

  XLA:CPU's own kernel gradient for it (a batch-grouped convolution) took 18 s for one
  [8, 64, 64, 128] 32-group layer; this takes the kernel gradient as one batched matmul per
  tap (~0.3 s) and keeps XLA's forward and input gradient, which are fine. Other backends
  take XLA's own kernel gradient too (fast there).
  """
  features: int
  kernel_size: int
  strides: int = 1
  groups: int = 1
  padding: tuple = ((1, 1), (1, 1))
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    k, c = self.kernel_size, x.shape[-1]
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        (k, k, c // self.groups, self.features)).astype(self.dtype)
    padding = tuple(tuple(p) for p in self.padding)
    conv = _grouped if backend.use_cpu_rewrites() else _grouped_native
    return conv(x.astype(self.dtype), kernel, self.strides, padding, self.groups)


def pool_2x2(x):
  """2x2 max pooling, stride 2, as a reshape and max: the same function as nn.max_pool for
  even sizes, but its gradient avoids XLA:CPU's slow select-and-scatter (docs/performance.md).
  Other backends take nn.max_pool (VALID: odd edges dropped, as here). Gradients differ only
  at ties: jnp.max splits it among the tied elements, nn.max_pool gives it to the first."""
  if not backend.use_cpu_rewrites():
    return nn.max_pool(x, (2, 2), strides=(2, 2), padding="VALID")
  b, h, w, c = x.shape
  return x[:, :h // 2 * 2, :w // 2 * 2].reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def _windows(x, k):
  """[B, H, W, C] (H, W multiples of k) -> the [B, H/k, k, W/k, k, C] view of its windows."""
  b, h, w, c = x.shape
  return x.reshape(b, h // k, k, w // k, k, c)


def _window_position(k):
  """Row-major position of each element in its window, broadcastable against `_windows`."""
  shape = (1, 1, k, 1, k, 1)
  return (jax.lax.broadcasted_iota(jnp.int8, shape, 2) * k +
          jax.lax.broadcasted_iota(jnp.int8, shape, 4))


def pool_with_argmax(x, k):
  """k x k max pool, stride k (sizes divisible by k), and per window the row-major position of
  its first maximum (int8), the element nn.max_pool's gradient goes to. A max over the k*k
  strided taps, which XLA:CPU fuses into one loop: ~10x faster here than its reduction over
  the window axes of the [B, H/k, k, W/k, k, C] view."""
  xw = _windows(x, k)
  taps = [xw[:, :, i, :, j] for i in range(k) for j in range(k)]
  y = functools.reduce(jnp.maximum, taps)
  first = jnp.full(y.shape, k * k - 1, jnp.int8)
  for p in reversed(range(k * k - 1)):
    first = jnp.where(taps[p] == y, jnp.int8(p), first)
  return y, first


def unpool_to_first(g, first, k):
  """The gradient of `pool_with_argmax`'s max: g [B, h, w, C] placed at each window's first
  maximum, zeros elsewhere, as [B, h, k, w, k, C] (reshape to [B, H, W, C])."""
  at = _window_position(k) == first[:, :, None, :, None, :]
  return jnp.where(at, g[:, :, None, :, None, :], jnp.zeros((), g.dtype))


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _pool_k(x, k):
  return pool_with_argmax(x, k)[0]


def _pool_k_fwd(x, k):
  y, first = pool_with_argmax(x, k)
  return y, first


def _pool_k_bwd(k, first, g):
  # Compare-and-select in one loop that XLA fuses, not XLA's select-and-scatter; the first
  # maximum of a window in row-major order takes the gradient, as in select-and-scatter.
  b, h, w, c = g.shape
  return (unpool_to_first(g, first, k).reshape(b, h * k, w * k, c),)


_pool_k.defvjp(_pool_k_fwd, _pool_k_bwd)


def max_pool_same(x, k):
  """k x k max pooling with stride k and 'SAME' padding: nn.max_pool(x, (k, k), strides=(k, k),
  padding='SAME')'s function and gradient (the first maximum of a window takes it), computed
  as a reshape and max forward and compare-and-selects backward, not XLA's select-and-scatter,
  which XLA:CPU runs slowly (docs/performance.md; Meso4's train step ran 1.2x faster). Other
  backends take nn.max_pool itself (reduce_window, fast there).
  """
  if not backend.use_cpu_rewrites():
    return nn.max_pool(x, (k, k), strides=(k, k), padding="SAME")
  b, h, w, c = x.shape
  pads = [((-(-n // k)) * k - n) for n in (h, w)]
  if any(pads):
    x = jnp.pad(
        x, ((0, 0), (pads[0] // 2, pads[0] - pads[0] // 2), (pads[1] // 2, pads[1] - pads[1] // 2),
            (0, 0)),
        constant_values=-jnp.inf)
  return _pool_k(x, k)


# --------------------------------------------------------------------------------------------
# Transformer encoder (pre-norm, as in ViT / timm), with attention weights sown for rollout.

gelu = functools.partial(nn.gelu, approximate=False)  # timm and PyTorch use the exact GELU


class Attention(nn.Module):
  """Multi-head attention with timm's layout: one fused qkv projection, one output projection.

  With `context`, queries come from x and keys/values from `context` (cross-attention); the
  softmax weights [B, heads, Nq, Nk] are sown as 'attention' for attention rollout.
  """
  heads: int
  head_dim: int = 0  # 0: dim // heads
  qkv_bias: bool = True
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, context=None):
    dim = x.shape[-1]
    hd = self.head_dim or dim // self.heads
    inner = hd * self.heads
    if context is None:
      qkv = nn.Dense(3 * inner, use_bias=self.qkv_bias, dtype=self.dtype, name="qkv")(x)
      q, k, v = jnp.split(qkv, 3, axis=-1)
    else:
      q = nn.Dense(inner, use_bias=self.qkv_bias, dtype=self.dtype, name="q")(x)
      kv = nn.Dense(2 * inner, use_bias=self.qkv_bias, dtype=self.dtype, name="kv")(context)
      k, v = jnp.split(kv, 2, axis=-1)
    split = lambda t: t.reshape(t.shape[:-1] + (self.heads, hd))
    q, k, v = split(q), split(k), split(v)
    logits = jnp.einsum("bqhd,bkhd->bhqk", q * hd**-0.5, k)
    weights = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
    self.sow("intermediates", "attention", weights)
    out = jnp.einsum("bhqk,bkhd->bqhd", weights.astype(self.dtype), v)
    return nn.Dense(dim, dtype=self.dtype, name="proj")(out.reshape(out.shape[:-2] + (inner,)))


class Mlp(nn.Module):
  hidden: int
  dropout: float = 0.0
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train):
    dim = x.shape[-1]
    x = gelu(nn.Dense(self.hidden, dtype=self.dtype, name="fc1")(x))
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    x = nn.Dense(dim, dtype=self.dtype, name="fc2")(x)
    return nn.Dropout(self.dropout, deterministic=not train)(x)


class EncoderBlock(nn.Module):
  """x + attn(norm1(x)); x + mlp(norm2(x)); LayerNorm epsilon 1e-6 as in timm's ViT."""
  heads: int
  mlp_dim: int
  head_dim: int = 0
  dropout: float = 0.0
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train):
    norm = lambda name: nn.LayerNorm(epsilon=1e-6, dtype=self.dtype, name=name)
    y = Attention(self.heads, self.head_dim, dtype=self.dtype, name="attn")(norm("norm1")(x))
    x = x + nn.Dropout(self.dropout, deterministic=not train)(y)
    return x + Mlp(self.mlp_dim, self.dropout, self.dtype, name="mlp")(norm("norm2")(x), train)


class Encoder(nn.Module):
  depth: int
  heads: int
  mlp_dim: int
  head_dim: int = 0
  dropout: float = 0.0
  final_norm: bool = True
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train):
    for i in range(self.depth):
      x = EncoderBlock(
          self.heads, self.mlp_dim, self.head_dim, self.dropout, self.dtype,
          name=f"blocks_{i}")(x, train)
    if self.final_norm:
      x = nn.LayerNorm(epsilon=1e-6, dtype=self.dtype, name="norm")(x)
    return x


class Tokens(nn.Module):
  """Prepends a learned class token and adds learned position embeddings (one per token)."""
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    b, n, d = x.shape
    init = nn.initializers.normal(0.02)
    cls = self.param("cls_token", nn.initializers.zeros, (1, 1, d))
    pos = self.param("pos_embed", init, (1, n + 1, d))
    x = jnp.concatenate([jnp.broadcast_to(cls.astype(x.dtype), (b, 1, d)), x], axis=1)
    return x + pos.astype(x.dtype)
