"""Xception (Chollet 2017), the FaceForensics++ baseline detector (Rossler et al. 2019).

Layer for layer Keras Applications' Xception: entry flow (two plain convs, three residual
blocks with separable convs), middle flow (8 residual blocks of three 728-wide separable convs),
exit flow, global average pooling, here one logit. Module names are Keras' layer names, so
`keras_convert` maps ImageNet weights by name; Keras' four unnamed residual convs (and their
batch norms) are `conv2d_{i}` / `batch_normalization_{i}` in creation order.

Input [-1, 1], which is what Keras' Xception expects (preprocess_input mode 'tf'). Keras' input
must be at least 71x71; smaller inputs run here too (stride-2 valid convs need >= 7 px).
At 299 px: 20,806,952 trainable backbone parameters + 2,049 head (Keras: the same).
`width` and `middle_blocks` shrink the model for tests; 1.0 and 8 are Xception.

layout='deepfakebench' is the Xception of DeepfakeBench (its training/networks/xception.py,
FaceForensics++' PyTorch port), for its released checkpoints (models/deepfakebench) and the
detectors built on it (spsl.py, srm.py, ucf.py): the same layers and names, with PyTorch's
batch norm (epsilon 1e-5, momentum 0.1) and the residual blocks' max pool as torch's
MaxPool2d(3, 2, padding=1), one pixel of padding on both sides; TF's 'SAME' pads an even-sized
map after only, which shifts every window by one pixel (at 256 px the pools of blocks 4 and 13
see 32 and 16 px maps). `adjust_channel` > 0 adds DeepfakeBench's mode 'adjust_channel' (UCF's
encoder): a 1x1 conv with bias, batch norm and ReLU to that many channels after the exit flow,
and then no ReLU before the classifier.

The network runs in stages, DeepfakeBench's fea_part1_0 ... fea_part5 (STAGES), so a detector
holding two streams (SRM) calls them in turn and mixes the streams between them: the same
submodules, names and parameter tree whichever stages a call runs (Flax shares a module's
parameters across calls).
"""
import flax.linen as nn
import jax.numpy as jnp

from fakedetect_jax.models.layers import Conv1x1, DepthwiseConv, Head, cam_tap, keras_bn, torch_bn
from fakedetect_jax.models.registry import ModelSpec, register

LAYOUTS = ("keras", "deepfakebench")
# stem0/stem1: the two plain convs (DeepfakeBench fea_part1_0, fea_part1_1); entry: Keras
# blocks 2-4 (fea_part2); middle_a: the first half of the middle flow (fea_part3); middle_b:
# the rest and exit block 13 (fea_part4); exit: block 14's separable convs, batch-normalised,
# without the last ReLU (fea_part5); adjust: adjust_channel's conv (identity when 0);
# classifier: ReLU (not after adjust_channel), Grad-CAM tap, pooled one-logit head.
STAGES = ("stem0", "stem1", "entry", "middle_a", "middle_b", "exit", "adjust", "classifier")
FEATURES = STAGES[:-1]  # DeepfakeBench's features()
# Not in STAGES: 'head' alone (pool, dropout, logit), for a parent that taps the map itself.


class SeparableConv(nn.Module):
  """Keras SeparableConv2D without bias: depthwise 3x3 then pointwise 1x1."""
  features: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    x = DepthwiseConv(3, dtype=self.dtype, name="depthwise")(x)
    return Conv1x1(self.features, dtype=self.dtype, name="pointwise")(x)


def middle_split(middle_blocks):
  """How many middle-flow blocks run in stage middle_a (DeepfakeBench: 4 of 8)."""
  return (middle_blocks + 1) // 2


# The stage functions create the module `m`'s submodules by name (inside its compact call).
def _w(m, f):
  return max(8, int(f * m.width))


def _bn(m, train, name):
  if m.layout == "keras":
    return keras_bn(train, m.dtype, name)
  return torch_bn(train, m.dtype, name)


def _sep(m, f, name):
  return SeparableConv(_w(m, f), m.dtype, name=name)


def _pool(m, y):
  padding = "SAME" if m.layout == "keras" else ((1, 1), (1, 1))
  return nn.max_pool(y, (3, 3), strides=(2, 2), padding=padding)


def _residual(m, y, f, i, train):
  """Keras' unnamed 1x1 stride-2 shortcut conv (the i-th) and its batch norm."""
  y = Conv1x1(_w(m, f), strides=2, dtype=m.dtype, name=f"conv2d_{i}")(y)
  return _bn(m, train, f"batch_normalization_{i}")(y)


def _plain(m, x, f, strides, name, train):
  x = nn.Conv(
      _w(m, f), (3, 3),
      strides=(strides, strides),
      padding="VALID",
      use_bias=False,
      dtype=m.dtype,
      name=name)(
          x)
  return nn.relu(_bn(m, train, name + "_bn")(x))


def _stem0(m, x, train):
  return _plain(m, x.astype(m.dtype), 32, 2, "block1_conv1", train)


def _stem1(m, x, train):
  return _plain(m, x, 64, 1, "block1_conv2", train)


def _entry(m, x, train):
  # Blocks 2-4 halve the size; block 2 starts without a ReLU (x is post-ReLU).
  for i, (block, f) in enumerate(((2, 128), (3, 256), (4, 728))):
    shortcut = _residual(m, x, f, i, train)
    if block > 2:
      x = nn.relu(x)
    x = _bn(m, train, f"block{block}_sepconv1_bn")(_sep(m, f, f"block{block}_sepconv1")(x))
    x = nn.relu(x)
    x = _bn(m, train, f"block{block}_sepconv2_bn")(_sep(m, f, f"block{block}_sepconv2")(x))
    x = _pool(m, x) + shortcut
  return x


def _middle(m, x, train, blocks):
  for block in blocks:  # identity shortcuts
    shortcut = x
    for j in (1, 2, 3):
      x = nn.relu(x)
      x = _bn(m, train, f"block{block}_sepconv{j}_bn")(_sep(m, 728, f"block{block}_sepconv{j}")(x))
    x = x + shortcut
  return x


def _middle_a(m, x, train):
  return _middle(m, x, train, range(5, 5 + middle_split(m.middle_blocks)))


def _middle_b(m, x, train):
  x = _middle(m, x, train, range(5 + middle_split(m.middle_blocks), 5 + m.middle_blocks))
  # Exit block; Keras names it block13 whatever the middle-flow length.
  shortcut = _residual(m, x, 1024, 3, train)
  x = _bn(m, train, "block13_sepconv1_bn")(_sep(m, 728, "block13_sepconv1")(nn.relu(x)))
  x = _bn(m, train, "block13_sepconv2_bn")(_sep(m, 1024, "block13_sepconv2")(nn.relu(x)))
  return _pool(m, x) + shortcut


def _exit(m, x, train):
  x = nn.relu(_bn(m, train, "block14_sepconv1_bn")(_sep(m, 1536, "block14_sepconv1")(x)))
  return _bn(m, train, "block14_sepconv2_bn")(_sep(m, 2048, "block14_sepconv2")(x))


def _adjust(m, x, train):
  if not m.adjust_channel:
    return x
  x = Conv1x1(m.adjust_channel, use_bias=True, dtype=m.dtype, name="adjust_channel_conv")(x)
  return nn.relu(_bn(m, train, "adjust_channel_bn")(x))


def _head(m, x, train):
  return Head(m.dropout, m.dtype, name="head")(x, train)


def _classifier(m, x, train):
  if not m.adjust_channel:
    x = nn.relu(x)
  return _head(m, cam_tap(m, x), train)


_RUN = {
    "stem0": _stem0,
    "stem1": _stem1,
    "entry": _entry,
    "middle_a": _middle_a,
    "middle_b": _middle_b,
    "exit": _exit,
    "adjust": _adjust,
    "classifier": _classifier,
    "head": _head,
}


class Xception(nn.Module):
  """`stages`: the stages this call runs, in order (default all: images -> logits [B])."""
  dropout: float = 0.5
  width: float = 1.0
  middle_blocks: int = 8
  dtype: jnp.dtype = jnp.float32
  layout: str = "keras"
  adjust_channel: int = 0

  @nn.compact
  def __call__(self, x, train=False, stages=None):
    if self.layout not in LAYOUTS:
      raise ValueError(f"layout {self.layout!r}: expected one of {', '.join(LAYOUTS)}")
    for stage in STAGES if stages is None else stages:
      if stage not in _RUN:
        raise ValueError(f"unknown Xception stage {stage!r}; stages: {', '.join(_RUN)}")
      x = _RUN[stage](self, x, train)
    return x


# Keras' Xception wants >= 71 px; here the total stride (32) is the limit. Benchmarked at 256 px.
register(
    "xception",
    ModelSpec(
        Xception,
        default_size=299,
        min_size=32,
        bench_size=256,
        converters={"keras": {
            "app": "Xception"
        }}))
