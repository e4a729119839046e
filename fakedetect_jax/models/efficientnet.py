"""EfficientNet B0-B7 (Tan and Le 2019) and EfficientNet-B4 + attention (Bonettini et al. 2020).

Layer for layer Keras Applications' EfficientNet: stem, 7 stages of MBConv blocks (1x1 expand,
depthwise conv, squeeze-and-excite, 1x1 project, stochastic depth on identity blocks), 1x1 top
conv, global average pooling, here one logit. Module names are Keras' layer names
('stem_conv', 'block4c_dwconv', 'top_bn', ...), so Keras weights convert by name.

Input [-1, 1]; the model maps it to ImageNet mean/std normalisation itself, the arithmetic of
Keras' Rescaling + Normalization layers with ImageNet weights (those layers' 7 non-trainable
numbers are constants here, not variables). Keras pads stride-2 convs by `correct_pad`, which
equals TF 'SAME' padding for every input size, so 'SAME' is used throughout.

B4Att (Bonettini et al. 2020, "Video face manipulation detection through ensemble of CNNs"):
after block 10 of B4 (index 9, the last 56-channel block) a 1x1 conv + sigmoid gives a spatial
attention map that multiplies the features; 57 parameters more than B4.

layout='deepfakebench': the B4 DeepfakeBench trains (its networks/efficientnetb4.py, built on
the efficientnet_pytorch package), for its released checkpoints (models/deepfakebench). The
same blocks, but inputs stay in [-1, 1] (its mean/std 0.5 normalisation, no ImageNet
renormalisation), the stem conv is unpadded (DeepfakeBench replaces it by a plain Conv2d), and
each stride-2 depthwise conv has the fixed padding efficientnet_pytorch computes once from the
variant's nominal resolution (380 px for B4: (0, 1), (2, 2), (0, 1), (1, 2) for its four
stride-2 stages) whatever the real input size, where Keras pads by the actual size.
"""
import math

import flax.linen as nn
import jax.numpy as jnp

from fakedetect_jax.models.layers import (Conv1x1, DepthwiseConv, Head, cam_tap, imagenet_normalize,
                                          keras_bn)
from fakedetect_jax.models.registry import ModelSpec, register

# (width, depth, Keras default resolution, Keras top dropout) per variant.
VARIANTS = {
    "b0": (1.0, 1.0, 224, 0.2),
    "b1": (1.0, 1.1, 240, 0.2),
    "b2": (1.1, 1.2, 260, 0.3),
    "b3": (1.2, 1.4, 300, 0.3),
    "b4": (1.4, 1.8, 380, 0.4),
    "b5": (1.6, 2.2, 456, 0.4),
    "b6": (1.8, 2.6, 528, 0.5),
    "b7": (2.0, 3.1, 600, 0.5),
}
# kernel, repeats, filters in, filters out, expand ratio, stride (squeeze-excite ratio 0.25).
BLOCKS = ((3, 1, 32, 16, 1, 1), (3, 2, 16, 24, 6, 2), (5, 2, 24, 40, 6, 2), (3, 3, 40, 80, 6, 2),
          (5, 3, 80, 112, 6, 1), (5, 4, 112, 192, 6, 2), (3, 1, 192, 320, 6, 1))

# Keras' CONV_KERNEL_INITIALIZER: He-style, fan-out, truncated normal. Keras' depthwise kernel
# is [k, k, C, 1] (fan-out k*k); ours is [k, k, 1, C], where k*k is the fan-in.
_conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "truncated_normal")
_depthwise_init = nn.initializers.variance_scaling(2.0, "fan_in", "truncated_normal")


def static_pads(variant, plan):
  """efficientnet_pytorch's fixed 'same' padding of each block's depthwise conv, computed from
  the nominal resolution: [(top, bottom), (left, right)] for stride-2 blocks, None (SAME, which
  it equals for stride 1) otherwise."""
  size = -(-VARIANTS[variant][2] // 2)  # after the stem
  pads = []
  for _, k, _, _, _, stride in plan:
    if stride == 1:
      pads.append(None)
      continue
    total = max((-(-size // stride) - 1) * stride + k - size, 0)
    pads.append(((total // 2, total - total // 2),) * 2)
    size = -(-size // stride)
  return pads


def round_filters(filters, width, divisor=8):
  filters *= width
  new = max(divisor, int(filters + divisor / 2) // divisor * divisor)
  if new < 0.9 * filters:  # never round down by more than 10%
    new += divisor
  return int(new)


def round_repeats(repeats, depth):
  return int(math.ceil(depth * repeats))


def block_plan(width, depth, stages=len(BLOCKS)):
  """[(keras block name, kernel, filters_in, filters_out, expand, stride)] for every block."""
  plan = []
  for i, (k, reps, f_in, f_out, expand, stride) in enumerate(BLOCKS[:stages]):
    f_in, f_out = round_filters(f_in, width), round_filters(f_out, width)
    for j in range(round_repeats(reps, depth)):
      plan.append((f"block{i + 1}{chr(97 + j)}_", k, f_in if j == 0 else f_out, f_out, expand,
                   stride if j == 0 else 1))
  return plan


class EfficientNet(nn.Module):
  variant: str = "b4"
  dropout: float = 0.4
  drop_connect: float = 0.2
  attention_after: int = -1  # block index of B4Att's attention map; -1: none
  width: float = 0.0  # override the variant's coefficients (tests use tiny ones)
  depth: float = 0.0
  stages: int = len(BLOCKS)  # fewer stages: a shallower model for tests
  trunk_only: bool = False  # return features, not a logit: the top activation, or with
  stop_after: int = -1  # stop_after=i the output of block i (Cross Efficient ViT's trunks)
  layout: str = "keras"  # or 'deepfakebench' (module docstring)
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train=False):
    width = self.width or VARIANTS[self.variant][0]
    depth = self.depth or VARIANTS[self.variant][1]
    conv = lambda f, k, name, padding="SAME", **kw: (
        Conv1x1(f, kernel_init=_conv_init, dtype=self.dtype, name=name)
        if k == 1 and not kw else nn.Conv(
            f, (k, k),
            padding=padding,
            use_bias=False,
            kernel_init=_conv_init,
            dtype=self.dtype,
            name=name,
            **kw))
    bn = lambda name: keras_bn(train, self.dtype, name)
    if self.layout not in ("keras", "deepfakebench"):
      raise ValueError(f"layout {self.layout!r}: expected 'keras' or 'deepfakebench'")
    torch_layout = self.layout == "deepfakebench"
    x = x.astype(self.dtype) if torch_layout else imagenet_normalize(x.astype(self.dtype))
    stem = conv(
        round_filters(32, width),
        3,
        "stem_conv",
        "VALID" if torch_layout else "SAME",
        strides=(2, 2))
    x = nn.swish(bn("stem_bn")(stem(x)))
    plan = block_plan(width, depth, self.stages)
    pads = static_pads(self.variant, plan) if torch_layout else [None] * len(plan)
    for b, (name, k, f_in, f_out, expand, stride) in enumerate(plan):
      inputs, f = x, f_in * expand
      if expand != 1:
        x = nn.swish(bn(name + "expand_bn")(conv(f, 1, name + "expand_conv")(x)))
      x = DepthwiseConv(
          k, stride, _depthwise_init, self.dtype, padding=pads[b], name=name + "dwconv")(
              x)
      x = nn.swish(bn(name + "bn")(x))
      # Squeeze-and-excite: 1x1 convs (with bias) on the pooled features, as Keras has them.
      se = jnp.mean(x, axis=(1, 2), keepdims=True)
      se = nn.swish(
          Conv1x1(
              max(1, int(f_in * 0.25)), use_bias=True, dtype=self.dtype,
              name=name + "se_reduce")(se))
      se = nn.sigmoid(Conv1x1(f, use_bias=True, dtype=self.dtype, name=name + "se_expand")(se))
      x = bn(name + "project_bn")(conv(f_out, 1, name + "project_conv")(x * se))
      if stride == 1 and f_in == f_out:
        # Stochastic depth: drop the whole residual branch per example, rate growing with depth.
        rate = self.drop_connect * b / len(plan)
        x = nn.Dropout(rate, broadcast_dims=(1, 2, 3), deterministic=not train)(x) + inputs
      if b == self.attention_after:
        att = nn.sigmoid(nn.Conv(1, (1, 1), dtype=self.dtype, name="att_conv")(x))
        self.sow("intermediates", "attention_map", att)
        x = x * att
      if b == self.stop_after:
        return x
    x = nn.swish(bn("top_bn")(conv(round_filters(1280, width), 1, "top_conv")(x)))
    if self.trunk_only:
      return x
    x = cam_tap(self, x)
    return Head(self.dropout, self.dtype, name="head")(x, train)


def efficientnet(variant, attention=False):
  """A constructor for the registry: efficientnet('b4')(dropout=..., dtype=...)."""

  def make(**kwargs):
    kwargs.setdefault("dropout", VARIANTS[variant][3])
    if attention:
      kwargs.setdefault("attention_after", 9)
    return EfficientNet(variant=variant, **kwargs)

  make.__name__ = make.__qualname__ = f"EfficientNet{variant.upper()}{'Att' if attention else ''}"
  return make


def _register():
  for v, (_, _, size, _) in VARIANTS.items():
    # B4 at 224 px is what the FF++ / DFDC detectors (Bonettini et al.) train at, not Keras' 380.
    register(
        f"efficientnet_{v}",
        ModelSpec(
            efficientnet(v),
            default_size=224 if v == "b4" else size,
            min_size=32,
            bench_size=256,
            converters={"keras": {
                "app": f"EfficientNet{v.upper()}"
            }}))
  # B4's Keras weights serve B4Att; its attention conv starts from scratch (as in the paper).
  register(
      "efficientnet_b4_att",
      ModelSpec(
          efficientnet("b4", attention=True),
          default_size=224,
          min_size=32,
          bench_size=256,
          converters={"keras": {
              "app": "EfficientNetB4"
          }}))


_register()
