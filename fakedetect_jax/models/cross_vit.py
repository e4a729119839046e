"""Cross Efficient ViT (Coccomini et al. 2022), the DFDC leaderboard model, and a
convolutional ViT (CViT, Wodajo and Atnafu 2021): CNN feature maps as transformer tokens.

Cross Efficient ViT: two EfficientNet-B0 trunks give features at two scales: the S branch
takes the 1280-channel top activation (stride 32), the L branch the output of block 3 (24
channels, stride 4). Each is cut into patches -> linear embedding -> class token + positions,
and runs through `depth` rounds of: a transformer per branch, then cross-attention in which each
branch's class token (projected to the other branch's width) attends to the other branch's
patch tokens and itself. Each class token -> LayerNorm -> a logit; the two logits add.
Dimensions, depths, heads and dropout are the paper's (architecture.yaml).
One deliberate difference: patch sizes here count feature-map cells. The reference's 7 and 56
cover the whole 7x7 and 56x56 maps of a 224 px face, so each of its branches sees one patch
token; the defaults here (1 and 8) give 7x7 tokens per branch at 224 px, the tokens the paper
describes. sm_patch=7, lg_patch=56 restores the reference layout at 224 px.

ConvViT: CViT's 17-conv VGG-style feature learner (3, 3, 3, 4, 4 convs of 32..512 filters,
each conv + BN + ReLU, 2x2 max pool after each stage, stride 32), every cell of its feature
map a token (the reference's 7x7 patch is again the whole map; patch=7 restores it), then a
6-layer 1024-wide transformer and CViT's MLP head, here to one logit.
"""
import flax.linen as nn
import jax.numpy as jnp

from fakedetect_jax.models.efficientnet import EfficientNet
from fakedetect_jax.models.layers import (Attention, Encoder, Head, Tokens, cam_tap, pool_2x2,
                                          torch_bn)
from fakedetect_jax.models.registry import ModelSpec, register


def patchify(x, p):
  """[B, H, W, C] -> [B, (H/p)(W/p), p*p*C] (H, W cut down to multiples of p)."""
  b, h, w, c = x.shape
  h, w = h // p, w // p
  x = x[:, :h * p, :w * p].reshape(b, h, p, w, p, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b, h * w, p * p * c)


class CrossAttend(nn.Module):
  """cls + out(attn(norm(in(cls)), context=[norm(in(cls)), other branch's patch tokens]))."""
  dim_other: int
  heads: int
  head_dim: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, cls, patches):
    dim = cls.shape[-1]
    y = nn.Dense(self.dim_other, dtype=self.dtype, name="project_in")(cls)
    y = nn.LayerNorm(dtype=self.dtype, name="norm")(y)
    y = Attention(
        self.heads, self.head_dim, qkv_bias=False, dtype=self.dtype, name="attn")(
            y, context=jnp.concatenate([y, patches], axis=1))
    return cls + nn.Dense(dim, dtype=self.dtype, name="project_out")(y)


class CrossEfficientViT(nn.Module):
  dropout: float = 0.15
  encoder_dropout: float = 0.15
  depth: int = 4
  sm_dim: int = 192
  sm_patch: int = 1
  sm_depth: int = 2
  sm_mlp: int = 2048
  lg_dim: int = 384
  lg_patch: int = 8
  lg_depth: int = 3
  lg_mlp: int = 2048
  lg_block: int = 2  # the L branch's trunk stops after this block (block1a=0)
  heads: int = 8
  head_dim: int = 64
  cross_depth: int = 2
  trunk: str = "b0"
  trunk_width: float = 0.0  # tiny trunks for tests
  trunk_depth: float = 0.0
  trunk_drop_connect: float = 0.2
  trunk_stages: int = 7
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train=False):
    trunk = dict(
        variant=self.trunk,
        width=self.trunk_width,
        depth=self.trunk_depth,
        drop_connect=self.trunk_drop_connect,
        stages=self.trunk_stages,
        trunk_only=True,
        dtype=self.dtype)
    sm = EfficientNet(name="sm_trunk", **trunk)(x, train)
    lg = EfficientNet(stop_after=self.lg_block, name="lg_trunk", **trunk)(x, train)
    sm = cam_tap(self, sm)

    def embed(fmap, p, dim, branch):
      t = nn.Dense(dim, dtype=self.dtype, name=f"{branch}_embed")(patchify(fmap, p))
      t = Tokens(self.dtype, name=f"{branch}_tokens")(t)
      return nn.Dropout(self.dropout, deterministic=not train)(t)

    sm = embed(sm, self.sm_patch, self.sm_dim, "sm")
    lg = embed(lg, self.lg_patch, self.lg_dim, "lg")
    enc = dict(
        heads=self.heads, head_dim=self.head_dim, dropout=self.encoder_dropout, dtype=self.dtype)
    for i in range(self.depth):
      sm = Encoder(self.sm_depth, mlp_dim=self.sm_mlp, name=f"sm_enc_{i}", **enc)(sm, train)
      lg = Encoder(self.lg_depth, mlp_dim=self.lg_mlp, name=f"lg_enc_{i}", **enc)(lg, train)
      sm_cls, lg_cls = sm[:, :1], lg[:, :1]
      for j in range(self.cross_depth):
        sm_cls = CrossAttend(
            self.lg_dim, self.heads, self.head_dim, self.dtype, name=f"cross_{i}_{j}_sm")(sm_cls,
                                                                                          lg[:, 1:])
        lg_cls = CrossAttend(
            self.sm_dim, self.heads, self.head_dim, self.dtype, name=f"cross_{i}_{j}_lg")(lg_cls,
                                                                                          sm[:, 1:])
      sm = jnp.concatenate([sm_cls, sm[:, 1:]], axis=1)
      lg = jnp.concatenate([lg_cls, lg[:, 1:]], axis=1)
    head = lambda t, branch: Head(
        0.0, self.dtype, name=f"{branch}_head")(nn.LayerNorm(
            dtype=self.dtype, name=f"{branch}_head_norm")(t[:, 0]), train)
    return head(sm, "sm") + head(lg, "lg")


class ConvViT(nn.Module):
  dropout: float = 0.1
  encoder_dropout: float = 0.0
  stages: tuple = ((32, 3), (64, 3), (128, 3), (256, 4), (512, 4))
  patch: int = 1
  dim: int = 1024
  depth: int = 6
  heads: int = 8
  mlp: int = 2048
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train=False):
    x = x.astype(self.dtype)
    n = 0
    for features, convs in self.stages:
      for _ in range(convs):
        x = nn.Conv(features, (3, 3), padding=[(1, 1)] * 2, dtype=self.dtype, name=f"conv_{n}")(x)
        x = nn.relu(torch_bn(train, self.dtype, f"bn_{n}")(x))
        n += 1
      x = pool_2x2(x)
    x = cam_tap(self, x)
    t = nn.Dense(self.dim, dtype=self.dtype, name="patch_embed")(patchify(x, self.patch))
    t = Tokens(self.dtype, name="tokens")(t)
    t = nn.Dropout(self.dropout, deterministic=not train)(t)
    t = Encoder(
        self.depth,
        self.heads,
        self.mlp,
        dropout=self.encoder_dropout,
        dtype=self.dtype,
        name="encoder")(t, train)
    y = nn.relu(nn.Dense(self.mlp, dtype=self.dtype, name="head_fc")(t[:, 0]))
    return Head(self.dropout, self.dtype, name="head")(y, train)


# Explained by attention rollout (ConvViT's CNN stem has a cam_tap too: Grad-CAM also works).
# Cross Efficient ViT takes Keras' EfficientNetB0 into both trunks (the L trunk: its first blocks).
register(
    "cross_efficient_vit",
    ModelSpec(
        CrossEfficientViT,
        default_size=224,
        min_size=32,
        explainer="rollout",
        converters={"keras": {
            "app": "EfficientNetB0",
            "prefixes": (("sm_trunk",), ("lg_trunk",))
        }}))
register("conv_vit", ModelSpec(ConvViT, default_size=224, min_size=32, explainer="rollout"))
