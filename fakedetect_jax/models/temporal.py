"""Temporal branch: models over a clip of consecutive face frames, x['frames'] [B,T,H,W,3].

What a single frame cannot show: blending strength or colour that jumps between frames
(flicker), unstable boundaries. Three families:
  ResNeXtLSTM        per-frame ResNeXt-50 features (2048-d), an LSTM of 2048 units, dropout 0.4,
                     the mean of its outputs -> one logit (the ResNeXt+LSTM detector of the
                     seed paper). The trunk is the zoo's ResNeXt-50 backbone, module names
                     included, so a converted timm ResNeXt-50 loads into `trunk`.
  TemporalTransformer a small per-frame conv embedding + a transformer encoder over time.
  Conv3D             a light 3D-convolution net (space and time kernels from the first layer).
All take the view dict and return one float32 fake logit per clip [B].
"""
import functools

import flax.linen as nn
import jax.numpy as jnp

from fakedetect_jax.models import resnext
from fakedetect_jax.models.registry import ModelSpec, register


class ResNeXtTrunk(nn.Module):
  """ResNeXt without its head: [N,H,W,3] in [-1,1] -> pooled features [N, stem*32]."""
  layers: tuple = (3, 4, 6, 3)
  groups: int = 32
  base_width: int = 4
  stem: int = 64
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train):
    x = resnext.backbone(x, train, self.layers, self.groups, self.base_width, self.stem, self.dtype)
    return jnp.mean(x, axis=(1, 2))


def _per_frame(fn, frames):
  """Applies fn to [B*T, ...] and restores [B, T, ...]."""
  b, t = frames.shape[:2]
  out = fn(frames.reshape((b * t,) + frames.shape[2:]))
  return out.reshape((b, t) + out.shape[1:])


def _logit(x, dtype, name="logit"):
  return nn.Dense(1, dtype=dtype, name=name)(x)[:, 0].astype(jnp.float32)


class ResNeXtLSTM(nn.Module):
  hidden: int = 2048
  dropout: float = 0.4
  layers: tuple = (3, 4, 6, 3)
  groups: int = 32
  base_width: int = 4
  stem: int = 64
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train=False):
    trunk = ResNeXtTrunk(
        self.layers, self.groups, self.base_width, self.stem, self.dtype, name="trunk")
    feats = _per_frame(lambda f: trunk(f, train), x["frames"])  # [B, T, 2048]
    h = nn.RNN(
        nn.OptimizedLSTMCell(self.hidden, dtype=self.dtype, param_dtype=jnp.float32, name="lstm"))(
            feats)
    h = nn.Dropout(self.dropout, deterministic=not train)(jnp.mean(h, axis=1))
    return _logit(h, self.dtype)


class FrameEmbed(nn.Module):
  """A small conv stack per frame -> [N, width]: cheap enough for clips on CPU."""
  width: int = 128
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train):
    for i, f in enumerate((self.width // 4, self.width // 2, self.width)):
      x = nn.Conv(f, (3, 3), strides=(2, 2), use_bias=False, dtype=self.dtype, name=f"conv{i}")(x)
      x = nn.relu(nn.BatchNorm(use_running_average=not train, dtype=self.dtype, name=f"bn{i}")(x))
    return jnp.mean(x, axis=(1, 2))


class TemporalTransformer(nn.Module):
  width: int = 128
  depth: int = 2
  heads: int = 4
  dropout: float = 0.1
  max_len: int = 64
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train=False):
    embed = FrameEmbed(self.width, self.dtype, name="embed")
    h = _per_frame(lambda f: embed(f, train), x["frames"])  # [B, T, D]
    # Frame-to-frame differences of the embeddings: flicker is a change between neighbours.
    h = h + nn.Dense(
        self.width, dtype=self.dtype, name="delta")(
            jnp.concatenate(
                [jnp.zeros_like(h[:, :1]), jnp.diff(h, axis=1)], axis=1))
    pos = self.param("pos", nn.initializers.normal(0.02), (self.max_len, self.width))
    h = h + pos[:h.shape[1]].astype(h.dtype)
    for i in range(self.depth):
      y = nn.LayerNorm(dtype=self.dtype, name=f"ln_a{i}")(h)
      y = nn.MultiHeadDotProductAttention(
          self.heads,
          dtype=self.dtype,
          dropout_rate=self.dropout,
          deterministic=not train,
          name=f"attn{i}")(y, y)
      h = h + y
      y = nn.LayerNorm(dtype=self.dtype, name=f"ln_m{i}")(h)
      y = nn.Dense(
          self.width, dtype=self.dtype, name=f"mlp_out{i}")(
              nn.gelu(nn.Dense(2 * self.width, dtype=self.dtype, name=f"mlp_in{i}")(y)))
      h = h + nn.Dropout(self.dropout, deterministic=not train)(y)
    h = nn.LayerNorm(dtype=self.dtype, name="ln_out")(h)
    return _logit(jnp.concatenate([h.mean(1), h.std(1)], -1), self.dtype)


class Conv3D(nn.Module):
  widths: tuple = (16, 32, 64)
  dropout: float = 0.3
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train=False):
    h = x["frames"].astype(self.dtype)  # [B, T, H, W, 3]
    for i, f in enumerate(self.widths):
      h = nn.Conv(f, (3, 3, 3), use_bias=False, dtype=self.dtype, name=f"conv{i}")(h)
      h = nn.relu(nn.BatchNorm(use_running_average=not train, dtype=self.dtype, name=f"bn{i}")(h))
      # Pool space only: clips are short, time is kept for the later kernels.
      h = nn.max_pool(h, (1, 2, 2), strides=(1, 2, 2))
    h = jnp.mean(h, axis=(1, 2, 3))
    return _logit(nn.Dropout(self.dropout, deterministic=not train)(h), self.dtype)


# Video-level branches on clips of face frames; sizes are the frames' (data.image_size).
register("resnext_lstm",
         ModelSpec(ResNeXtLSTM, default_size=112, min_size=32, view="clips", explainer=None))
# The same architecture at a width that trains in seconds (tests, synthetic data).
register(
    "resnext_lstm_small",
    ModelSpec(
        functools.partial(
            ResNeXtLSTM, hidden=32, layers=(1, 1, 1, 1), groups=2, base_width=32, stem=8),
        default_size=64,
        min_size=32,
        view="clips",
        explainer=None))
register("temporal_transformer",
         ModelSpec(TemporalTransformer, default_size=64, min_size=8, view="clips", explainer=None))
register("conv3d", ModelSpec(Conv3D, default_size=64, min_size=8, view="clips", explainer=None))
