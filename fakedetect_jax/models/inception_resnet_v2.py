"""Inception-ResNet-v2 (Szegedy et al. 2017), layer for layer Keras Applications' model.

Stem, mixed_5b, 10 x block35 (scale 0.17), mixed_6a, 20 x block17 (scale 0.1), mixed_7a,
10 x block8 (scale 0.2; the last one scale 1 and no ReLU), conv_7b, global average pooling,
here one logit. Every conv but the residual "up" projections is conv + BN without scale + ReLU,
as Keras' conv2d_bn. Module names follow Keras: its named layers ('block35_3_conv', 'conv_7b')
by name, its unnamed conv2d / batch_normalization layers as `conv2d_{i}` /
`batch_normalization_{i}` in creation order, which `keras_convert` reproduces.

Input [-1, 1] (Keras preprocess mode 'tf'). Keras needs at least 75x75 px, and so does this
(the valid-padded stem). `repeats` and `width` shrink the model for tests.
"""
import flax.linen as nn
import jax.numpy as jnp

from fakedetect_jax.models.layers import Head, cam_tap, keras_bn
from fakedetect_jax.models.registry import ModelSpec, register


class InceptionResNetV2(nn.Module):
  dropout: float = 0.5
  repeats: tuple = (10, 20, 10)
  width: float = 1.0
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train=False):
    count = {"n": 0}
    w = lambda f: max(4, int(f * self.width))

    def conv_bn(y, f, k, strides=1, padding="SAME", relu=True, name=None):
      if name is None:
        i = count["n"]
        count["n"] += 1
        conv_name, bn_name = f"conv2d_{i}", f"batch_normalization_{i}"
      else:
        conv_name, bn_name = name, name + "_bn"
      k = (k, k) if isinstance(k, int) else k
      y = nn.Conv(
          w(f),
          k,
          strides=(strides, strides),
          padding=padding,
          use_bias=False,
          dtype=self.dtype,
          name=conv_name)(
              y)
      y = keras_bn(train, self.dtype, bn_name, scale=False)(y)
      return nn.relu(y) if relu else y

    max_pool = lambda y: nn.max_pool(y, (3, 3), strides=(2, 2), padding="VALID")

    def block(y, scale, kind, idx, relu=True):
      if kind == "block35":
        b0 = conv_bn(y, 32, 1)
        b1 = conv_bn(conv_bn(y, 32, 1), 32, 3)
        b2 = conv_bn(conv_bn(conv_bn(y, 32, 1), 48, 3), 64, 3)
        branches = [b0, b1, b2]
      elif kind == "block17":
        b0 = conv_bn(y, 192, 1)
        b1 = conv_bn(conv_bn(conv_bn(y, 128, 1), 160, (1, 7)), 192, (7, 1))
        branches = [b0, b1]
      else:
        b0 = conv_bn(y, 192, 1)
        b1 = conv_bn(conv_bn(conv_bn(y, 192, 1), 224, (1, 3)), 256, (3, 1))
        branches = [b0, b1]
      mixed = jnp.concatenate(branches, axis=-1)
      # The "up" projection back to the trunk width: 1x1 conv with bias, no BN, no ReLU.
      up = nn.Conv(y.shape[-1], (1, 1), dtype=self.dtype, name=f"{kind}_{idx}_conv")(mixed)
      y = y + up * scale
      return nn.relu(y) if relu else y

    x = x.astype(self.dtype)
    x = conv_bn(x, 32, 3, strides=2, padding="VALID")
    x = conv_bn(x, 32, 3, padding="VALID")
    x = conv_bn(x, 64, 3)
    x = max_pool(x)
    x = conv_bn(x, 80, 1, padding="VALID")
    x = conv_bn(x, 192, 3, padding="VALID")
    x = max_pool(x)

    # mixed_5b (Inception-A): 35x35x320 at 299 px.
    b0 = conv_bn(x, 96, 1)
    b1 = conv_bn(conv_bn(x, 48, 1), 64, 5)
    b2 = conv_bn(conv_bn(conv_bn(x, 64, 1), 96, 3), 96, 3)
    # Keras' 'same' average pooling divides by the number of real (unpadded) pixels.
    bp = conv_bn(nn.avg_pool(x, (3, 3), padding="SAME", count_include_pad=False), 64, 1)
    x = jnp.concatenate([b0, b1, b2, bp], axis=-1)
    for i in range(1, self.repeats[0] + 1):
      x = block(x, 0.17, "block35", i)

    # mixed_6a (Reduction-A): 17x17x1088.
    b0 = conv_bn(x, 384, 3, strides=2, padding="VALID")
    b1 = conv_bn(conv_bn(conv_bn(x, 256, 1), 256, 3), 384, 3, strides=2, padding="VALID")
    x = jnp.concatenate([b0, b1, max_pool(x)], axis=-1)
    for i in range(1, self.repeats[1] + 1):
      x = block(x, 0.1, "block17", i)

    # mixed_7a (Reduction-B): 8x8x2080.
    b0 = conv_bn(conv_bn(x, 256, 1), 384, 3, strides=2, padding="VALID")
    b1 = conv_bn(conv_bn(x, 256, 1), 288, 3, strides=2, padding="VALID")
    b2 = conv_bn(conv_bn(conv_bn(x, 256, 1), 288, 3), 320, 3, strides=2, padding="VALID")
    x = jnp.concatenate([b0, b1, b2, max_pool(x)], axis=-1)
    for i in range(1, self.repeats[2]):
      x = block(x, 0.2, "block8", i)
    x = block(x, 1.0, "block8", self.repeats[2], relu=False)

    x = conv_bn(x, 1536, 1, name="conv_7b")
    x = cam_tap(self, x)
    return Head(self.dropout, self.dtype, name="head")(x, train)


# The valid-padded stem needs 75 px, as Keras' model does.
register(
    "inception_resnet_v2",
    ModelSpec(
        InceptionResNetV2,
        default_size=299,
        min_size=75,
        bench_size=256,
        converters={"keras": {
            "app": "InceptionResNetV2"
        }}))
