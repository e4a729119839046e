"""Vision Transformers: ViT-S/16 and ViT-B/16 (Dosovitskiy et al. 2021, timm's layout).

16x16 patches embedded by a strided conv, a class token, learned position embeddings, pre-norm
encoder blocks (LayerNorm epsilon 1e-6, exact GELU), final LayerNorm, the class token's
features -> dropout -> one logit. Module names mirror timm's keys ('blocks_3/attn/qkv' for
'blocks.3.attn.qkv'), so timm safetensors convert by name (`timm_convert`). Input [-1, 1]:
timm's augreg ViTs normalise with mean = std = 0.5, which is exactly that.

Position embeddings are sized for the input at init ((size / 16)^2 + 1); the converter resizes
pretrained ones to the grid of the model being loaded. Attention weights are sown as
'intermediates' for attention rollout (`fakedetect_jax.explain`).
ViT-S/16 at 224 px: 21,665,664 backbone + 385 head; ViT-B/16: 85,798,656 + 769.
"""
import flax.linen as nn
import jax.numpy as jnp

from fakedetect_jax.models.layers import Encoder, Head, Tokens
from fakedetect_jax.models.registry import ModelSpec, register

# dim, depth, heads, mlp width, patch
VARIANTS = {"s16": (384, 12, 6, 1536, 16), "b16": (768, 12, 12, 3072, 16)}


class ViT(nn.Module):
  variant: str = "s16"
  dropout: float = 0.1
  encoder_dropout: float = 0.0
  dim: int = 0  # overrides of the variant (tests use tiny ones)
  depth: int = 0
  heads: int = 0
  patch: int = 0
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train=False):
    dim, depth, heads, mlp, patch = VARIANTS[self.variant]
    dim, depth, heads, patch = (self.dim or dim, self.depth or depth, self.heads or
                                heads, self.patch or patch)
    mlp = mlp * dim // VARIANTS[self.variant][0]
    x = nn.Conv(
        dim, (patch, patch),
        strides=(patch, patch),
        padding="VALID",
        dtype=self.dtype,
        name="patch_embed")(
            x.astype(self.dtype))
    b, h, w, _ = x.shape
    x = Tokens(self.dtype, name="tokens")(x.reshape(b, h * w, dim))
    x = Encoder(
        depth, heads, mlp, dropout=self.encoder_dropout, dtype=self.dtype, name="encoder")(x, train)
    return Head(self.dropout, self.dtype, name="head")(x[:, 0], train)


def vit(variant):

  def make(**kwargs):
    return ViT(variant=variant, **kwargs)

  make.__name__ = make.__qualname__ = f"ViT_{variant.upper()}"
  return make


# min_size: one 16 px patch. Benchmarked at 224 px (a 14x14 patch grid).
register(
    "vit_s16",
    ModelSpec(
        vit("s16"),
        default_size=224,
        min_size=16,
        explainer="rollout",
        converters={"timm": {
            "layout": "vit"
        }}))
register(
    "vit_b16",
    ModelSpec(
        vit("b16"),
        default_size=224,
        min_size=16,
        explainer="rollout",
        converters={"timm": {
            "layout": "vit"
        }}))
