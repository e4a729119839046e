"""OpenAI CLIP's image towers, ViT-B/16 and ViT-L/14 (Radford et al. 2021), and detectors on them.

The tower as OpenAI trained it: a bias-free patch conv, a class token and learned position
embeddings, `ln_pre`, pre-norm residual blocks (LayerNorm epsilon 1e-5, QuickGELU
x * sigmoid(1.702 x)), `ln_post` on the class token (what Hugging Face calls the pooled output)
and a bias-free `proj` into the joint image-text space (the image embedding). Pixels in [-1, 1]
are mapped to CLIP's own normalisation (its mean / std of [0, 1] pixels) inside the model.
Attention uses separate q/k/v/out projections (Hugging Face's layout; open_clip's fused
in_proj is split on conversion, `clip_convert.py`), each built by the tower's `projection`
module so Effort can swap its SVD-split layer in. Attention weights are sown for rollout.

Registered models (each one fake logit):
  clip_vit_b16, clip_vit_l14  the tower + a linear head on the image embedding, all trained;
  univfd                      Ojha et al. (CVPR 2023): the frozen tower, a linear head on the
                              image embedding (the only trained part);
  clip_finetune               the tower fine-tuned (configs/clip.py gives it a lower learning
                              rate than the head) + a linear head on the image embedding;
  effort                      Yan et al. (ICML 2025), models/effort.py.
The trained subset is the spec's `trainable` pattern (train/state.py keeps everything else out
of the optimizer state and the gradients).
ViT-B/16 at 224 px: 86,192,640 tower parameters (85,799,424 before the 512-wide projection);
ViT-L/14: 303,966,208 (303,179,776 before the 768-wide projection).
"""
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from fakedetect_jax.models.registry import ModelSpec, register

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# width, depth, heads, patch, embedding width
VARIANTS = {"b16": (768, 12, 12, 16, 512), "l14": (1024, 24, 16, 14, 768)}


def clip_normalize(x):
  """[-1, 1] images -> CLIP's normalisation ((x01 - mean) / std), fixed arithmetic."""
  x01 = (x + 1.0) * 0.5
  return (x01 - jnp.asarray(CLIP_MEAN, x.dtype)) / jnp.asarray(CLIP_STD, x.dtype)


def quick_gelu(x):
  return x * jax.nn.sigmoid(1.702 * x)


class ClipAttention(nn.Module):
  """Self-attention with q/k/v/out projections made by `projection(features, name=...)`."""
  heads: int
  projection: Callable = nn.Dense
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    dim = x.shape[-1]
    hd = dim // self.heads
    proj = lambda name: self.projection(dim, dtype=self.dtype, name=name)
    split = lambda t: t.reshape(t.shape[:-1] + (self.heads, hd))
    q, k, v = (split(proj(n)(x)) for n in ("q_proj", "k_proj", "v_proj"))
    logits = jnp.einsum("bqhd,bkhd->bhqk", q * hd**-0.5, k)
    weights = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
    self.sow("intermediates", "attention", weights)
    out = jnp.einsum("bhqk,bkhd->bqhd", weights.astype(self.dtype), v)
    return proj("out_proj")(out.reshape(out.shape[:-2] + (dim,)))


class ClipBlock(nn.Module):
  heads: int
  projection: Callable = nn.Dense
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    norm = lambda name: nn.LayerNorm(epsilon=1e-5, dtype=self.dtype, name=name)
    x = x + ClipAttention(self.heads, self.projection, self.dtype, name="attn")(norm("ln_1")(x))
    y = nn.Dense(4 * x.shape[-1], dtype=self.dtype, name="c_fc")(norm("ln_2")(x))
    return x + nn.Dense(x.shape[-1], dtype=self.dtype, name="c_proj")(quick_gelu(y))


class ClipTower(nn.Module):
  """[-1, 1] images [B, H, W, 3] -> (pooled [B, width], image embedding [B, embed_dim]); with
  project=False there is no `proj` (Effort reads the pooled token) and the embedding is None."""
  variant: str = "b16"
  width: int = 0  # overrides of the variant (tests use tiny towers)
  depth: int = 0
  heads: int = 0
  patch: int = 0
  embed_dim: int = 0
  projection: Callable = nn.Dense
  dtype: jnp.dtype = jnp.float32
  project: bool = True

  def dims(self):
    width, depth, heads, patch, embed = VARIANTS[self.variant]
    return (self.width or width, self.depth or depth, self.heads or heads, self.patch or
            patch, self.embed_dim or embed)

  @nn.compact
  def __call__(self, x):
    width, depth, heads, patch, embed = self.dims()
    x = clip_normalize(x.astype(jnp.float32)).astype(self.dtype)
    x = nn.Conv(
        width, (patch, patch),
        strides=(patch, patch),
        padding="VALID",
        use_bias=False,
        dtype=self.dtype,
        name="patch_embed")(
            x)
    b, h, w, _ = x.shape
    x = x.reshape(b, h * w, width)
    init = nn.initializers.normal(width**-0.5)
    cls = self.param("class_embedding", init, (width,))
    pos = self.param("position_embedding", init, (h * w + 1, width))
    x = jnp.concatenate([jnp.broadcast_to(cls.astype(x.dtype), (b, 1, width)), x], axis=1)
    x = x + pos.astype(x.dtype)
    x = nn.LayerNorm(epsilon=1e-5, dtype=self.dtype, name="ln_pre")(x)
    x = Blocks(depth, heads, self.projection, self.dtype, name="encoder")(x)
    pooled = nn.LayerNorm(epsilon=1e-5, dtype=self.dtype, name="ln_post")(x[:, 0])
    if not self.project:
      return pooled, None
    return pooled, nn.Dense(embed, use_bias=False, dtype=self.dtype, name="proj")(pooled)


class Blocks(nn.Module):
  depth: int
  heads: int
  projection: Callable = nn.Dense
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    for i in range(self.depth):
      x = ClipBlock(self.heads, self.projection, self.dtype, name=f"blocks_{i}")(x)
    return x


class ClipDetector(nn.Module):
  """A CLIP tower and a linear head on its image embedding (`features='embedding'`) or on the
  pooled class token (`'pooled'`, Effort's choice), one fake logit as float32 [B]."""
  variant: str = "l14"
  features: str = "embedding"
  dropout: float = 0.0
  width: int = 0  # overrides of the variant (tests use tiny towers)
  depth: int = 0
  heads: int = 0
  patch: int = 0
  embed_dim: int = 0
  projection: Callable = nn.Dense
  dtype: jnp.dtype = jnp.float32

  def make_tower(self, projection=None):
    return ClipTower(
        self.variant,
        self.width,
        self.depth,
        self.heads,
        self.patch,
        self.embed_dim,
        projection or self.projection,
        self.dtype,
        project=self.features == "embedding",
        name="tower")

  @nn.compact
  def __call__(self, x, train=False):
    pooled, embedding = self.make_tower()(x)
    f = embedding if self.features == "embedding" else pooled
    f = nn.Dropout(self.dropout, deterministic=not train)(f)
    return nn.Dense(1, dtype=self.dtype, name="head")(f)[:, 0].astype(jnp.float32)


def detector(variant, **defaults):

  def make(**kwargs):
    return ClipDetector(**{"variant": variant, **defaults, **kwargs})

  make.__name__ = make.__qualname__ = f"ClipDetector_{variant}"
  return make


def clip_spec(variant, trainable=None):
  patch = VARIANTS[variant][3]
  return ModelSpec(
      detector(variant),
      default_size=224,
      min_size=patch,
      explainer="rollout",
      converters={"clip": {
          "prefix": "tower"
      }},
      trainable=trainable,
      bench_batch=4)


register("clip_vit_b16", clip_spec("b16"))
register("clip_vit_l14", clip_spec("l14"))
# UnivFD trains the head alone; the tower is CLIP's, untouched.
register("univfd", clip_spec("l14", trainable=r"^head/"))
register("clip_finetune", clip_spec("l14"))
