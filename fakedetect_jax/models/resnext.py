"""ResNeXt-50 32x4d (Xie et al. 2017), as timm / torchvision build it.

Bottleneck blocks [3, 4, 6, 3]: 1x1 conv, 3x3 grouped conv (32 groups, stride on the 3x3),
1x1 conv to 4x the planes, shortcut conv+BN where the shape changes; 7x7 stem and 3x3 max pool.
PyTorch pads symmetrically (padding=k//2), which differs from 'SAME' at stride 2, so the
paddings are explicit. Batch norm uses PyTorch's epsilon (1e-5). The grouped 3x3 conv is
`layers.GroupedConv` (XLA:CPU's own gradient for it is ~50x slower).

Module names mirror timm's state-dict keys ('layer2_0/conv2' for 'layer2.0.conv2'), so
`timm_convert` maps a timm safetensors file by name. Input [-1, 1], normalised to ImageNet
mean/std inside (what timm's ResNeXt weights expect). Backbone 22,979,904 parameters (timm's
25,028,904 without its 1000-class fc) + 2,049 head.
"""
import flax.linen as nn
import jax.numpy as jnp

from fakedetect_jax.models.layers import (GroupedConv, Head, cam_tap, imagenet_normalize, torch_bn)
from fakedetect_jax.models.registry import ModelSpec, register


class Bottleneck(nn.Module):
  planes: int
  stride: int
  groups: int
  base_width: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train):
    width = int(self.planes * self.base_width / 64) * self.groups
    out = self.planes * 4
    conv = lambda f, k, name, stride=1: nn.Conv(
        f, (k, k),
        strides=(stride, stride),
        padding=[(k // 2, k // 2)] * 2,
        use_bias=False,
        dtype=self.dtype,
        name=name)
    bn = lambda name: torch_bn(train, self.dtype, name)
    y = nn.relu(bn("bn1")(conv(width, 1, "conv1")(x)))
    y = GroupedConv(width, 3, self.stride, self.groups, dtype=self.dtype, name="conv2")(y)
    y = nn.relu(bn("bn2")(y))
    y = bn("bn3")(conv(out, 1, "conv3")(y))
    if self.stride != 1 or x.shape[-1] != out:
      x = bn("downsample_1")(conv(out, 1, "downsample_0", self.stride)(x))
    return nn.relu(x + y)


def backbone(x, train, layers, groups, base_width, stem, dtype):
  """Stem and bottleneck stages, [N,H,W,3] in [-1,1] -> the last feature map. Called inside a
  module's compact method, so its layers take timm's names in that module (ResNeXt here, the
  temporal branch's trunk)."""
  x = imagenet_normalize(x.astype(dtype))
  x = nn.Conv(
      stem, (7, 7), strides=(2, 2), padding=[(3, 3)] * 2, use_bias=False, dtype=dtype,
      name="conv1")(
          x)
  x = nn.relu(torch_bn(train, dtype, "bn1")(x))
  x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=[(1, 1)] * 2)
  for stage, blocks in enumerate(layers):
    for i in range(blocks):
      stride = 2 if stage > 0 and i == 0 else 1
      x = Bottleneck(
          stem * 2**stage, stride, groups, base_width, dtype, name=f"layer{stage + 1}_{i}")(x,
                                                                                            train)
  return x


class ResNeXt(nn.Module):
  dropout: float = 0.5
  layers: tuple = (3, 4, 6, 3)
  groups: int = 32
  base_width: int = 4
  stem: int = 64  # stem width; planes of stage i are stem * 2**i
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train=False):
    x = backbone(x, train, self.layers, self.groups, self.base_width, self.stem, self.dtype)
    x = cam_tap(self, x)
    return Head(self.dropout, self.dtype, name="head")(x, train)


register(
    "resnext50_32x4d",
    ModelSpec(
        ResNeXt,
        default_size=224,
        min_size=32,
        bench_size=256,
        converters={"timm": {
            "layout": "resnext"
        }}))
