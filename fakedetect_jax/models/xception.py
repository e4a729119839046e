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
"""
import flax.linen as nn
import jax.numpy as jnp

from fakedetect_jax.models.layers import Conv1x1, DepthwiseConv, Head, cam_tap, keras_bn
from fakedetect_jax.models.registry import ModelSpec, register


class SeparableConv(nn.Module):
  """Keras SeparableConv2D without bias: depthwise 3x3 then pointwise 1x1."""
  features: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    x = DepthwiseConv(3, dtype=self.dtype, name="depthwise")(x)
    return Conv1x1(self.features, dtype=self.dtype, name="pointwise")(x)


class Xception(nn.Module):
  dropout: float = 0.5
  width: float = 1.0
  middle_blocks: int = 8
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train=False):
    w = lambda f: max(8, int(f * self.width))
    bn = lambda name: keras_bn(train, self.dtype, name)
    sep = lambda f, name: SeparableConv(w(f), self.dtype, name=name)
    auto = {"n": 0}

    def residual(y, f):  # Keras' unnamed 1x1 stride-2 shortcut conv and its batch norm
      i = auto["n"]
      auto["n"] += 1
      y = Conv1x1(w(f), strides=2, dtype=self.dtype, name=f"conv2d_{i}")(y)
      return bn(f"batch_normalization_{i}")(y)

    def pool(y):
      return nn.max_pool(y, (3, 3), strides=(2, 2), padding="SAME")

    x = x.astype(self.dtype)
    x = nn.Conv(
        w(32), (3, 3),
        strides=(2, 2),
        padding="VALID",
        use_bias=False,
        dtype=self.dtype,
        name="block1_conv1")(
            x)
    x = nn.relu(bn("block1_conv1_bn")(x))
    x = nn.Conv(
        w(64), (3, 3), padding="VALID", use_bias=False, dtype=self.dtype, name="block1_conv2")(
            x)
    x = nn.relu(bn("block1_conv2_bn")(x))

    # Entry flow: blocks 2-4 halve the size; block 2 starts without a ReLU (x is post-ReLU).
    for block, f in ((2, 128), (3, 256), (4, 728)):
      shortcut = residual(x, f)
      if block > 2:
        x = nn.relu(x)
      x = bn(f"block{block}_sepconv1_bn")(sep(f, f"block{block}_sepconv1")(x))
      x = nn.relu(x)
      x = bn(f"block{block}_sepconv2_bn")(sep(f, f"block{block}_sepconv2")(x))
      x = pool(x) + shortcut

    # Middle flow: identity shortcuts.
    for block in range(5, 5 + self.middle_blocks):
      shortcut = x
      for j in (1, 2, 3):
        x = nn.relu(x)
        x = bn(f"block{block}_sepconv{j}_bn")(sep(728, f"block{block}_sepconv{j}")(x))
      x = x + shortcut

    # Exit flow. Keras names these block13/14 whatever the middle-flow length.
    shortcut = residual(x, 1024)
    x = bn("block13_sepconv1_bn")(sep(728, "block13_sepconv1")(nn.relu(x)))
    x = bn("block13_sepconv2_bn")(sep(1024, "block13_sepconv2")(nn.relu(x)))
    x = pool(x) + shortcut
    x = nn.relu(bn("block14_sepconv1_bn")(sep(1536, "block14_sepconv1")(x)))
    x = nn.relu(bn("block14_sepconv2_bn")(sep(2048, "block14_sepconv2")(x)))
    x = cam_tap(self, x)
    return Head(self.dropout, self.dtype, name="head")(x, train)


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
