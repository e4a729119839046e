"""DeepfakeBench's EfficientNet-B4 backbone in PyTorch with efficientnet_pytorch's names
(`efficientnet._conv_stem`, `efficientnet._blocks.N._depthwise_conv`, ...) and its classifier
`last_layer`. Blocks pad as efficientnet_pytorch's Conv2dStaticSamePadding does: a fixed
padding computed once from the nominal resolution (380 for B4); the stem is the plain unpadded
conv DeepfakeBench puts there. `width` and `depth` shrink it for tests (1.4 and 1.8 are B4)."""
import math

import torch
from torch import nn
from torch.nn import functional as F

# repeats, kernel, stride, expand, filters in, filters out (efficientnet_pytorch's B0 strings)
STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))


def _filters(f, width):
  f *= width
  new = max(8, int(f + 4) // 8 * 8)
  return int(new + 8 if new < 0.9 * f else new)


def _bn(c):
  return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


def _same_pad(size, k, s):
  out = math.ceil(size / s)
  total = max((out - 1) * s + k - size, 0)
  return (total // 2, total - total // 2), out


class Block(nn.Module):

  def __init__(self, f_in, f_out, k, s, expand, size):
    super().__init__()
    mid = f_in * expand
    self.expand = expand
    if expand != 1:
      self._expand_conv = nn.Conv2d(f_in, mid, 1, bias=False)
      self._bn0 = _bn(mid)
    self._depthwise_conv = nn.Conv2d(mid, mid, k, stride=s, groups=mid, bias=False)
    self._bn1 = _bn(mid)
    squeezed = max(1, int(f_in * 0.25))
    self._se_reduce = nn.Conv2d(mid, squeezed, 1)
    self._se_expand = nn.Conv2d(squeezed, mid, 1)
    self._project_conv = nn.Conv2d(mid, f_out, 1, bias=False)
    self._bn2 = _bn(f_out)
    (lo, hi), self.out_size = _same_pad(size, k, s)
    self.pad = (lo, hi, lo, hi)
    self.skip = s == 1 and f_in == f_out

  def forward(self, x):
    y = F.silu(self._bn0(self._expand_conv(x))) if self.expand != 1 else x
    y = F.silu(self._bn1(self._depthwise_conv(F.pad(y, self.pad))))
    se = F.adaptive_avg_pool2d(y, 1)
    y = y * torch.sigmoid(self._se_expand(F.silu(self._se_reduce(se))))
    y = self._bn2(self._project_conv(y))
    return y + x if self.skip else y


class EfficientNetTrunk(nn.Module):

  def __init__(self, width=1.4, depth=1.8, nominal=380):
    super().__init__()
    stem = _filters(32, width)
    self._conv_stem = nn.Conv2d(3, stem, 3, stride=2, bias=False)
    self._bn0 = _bn(stem)
    size = math.ceil(nominal / 2)
    blocks = []
    for reps, k, s, e, f_in, f_out in STAGES:
      f_in, f_out = _filters(f_in, width), _filters(f_out, width)
      for r in range(int(math.ceil(depth * reps))):
        blocks.append(Block(f_in if r == 0 else f_out, f_out, k, s if r == 0 else 1, e, size))
        size = blocks[-1].out_size
    self._blocks = nn.ModuleList(blocks)
    self.head_channels = _filters(1280, width)
    self._conv_head = nn.Conv2d(_filters(320, width), self.head_channels, 1, bias=False)
    self._bn1 = _bn(self.head_channels)

  def forward(self, x):
    x = F.silu(self._bn0(self._conv_stem(x)))
    for block in self._blocks:
      x = block(x)
    return F.silu(self._bn1(self._conv_head(x)))


class EfficientNetB4(nn.Module):

  def __init__(self, width=1.4, depth=1.8, num_classes=2):
    super().__init__()
    self.efficientnet = EfficientNetTrunk(width, depth)
    self.last_layer = nn.Linear(self.efficientnet.head_channels, num_classes)

  def features(self, x):
    return self.efficientnet(x)

  def forward(self, x):
    return self.last_layer(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))
