"""DeepfakeBench's Xception (networks/xception.py) and its SPSL detector in PyTorch, same names.

`width` and `middle_blocks` shrink the network the way our Flax Xception does (channels
max(8, int(c * width)); middle blocks block4 ... block{3 + middle_blocks}, the exit block stays
`block12`, fea_part3 runs the first half of the middle flow); 1.0 and 8 are DeepfakeBench's.
"""
import torch
from torch import nn
from torch.nn import functional as F


def widths(width):
  return lambda c: max(8, int(c * width))


class SeparableConv2d(nn.Module):
  """3x3 depthwise conv `conv1` (padding 1), then 1x1 `pointwise`; no biases."""

  def __init__(self, c_in, c_out):
    super().__init__()
    self.conv1 = nn.Conv2d(c_in, c_in, 3, 1, 1, groups=c_in, bias=False)
    self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)

  def forward(self, x):
    return self.pointwise(self.conv1(x))


class Block(nn.Module):
  """A residual block as DeepfakeBench lays out its `rep` Sequential: [ReLU,] SeparableConv,
  BatchNorm, ... ending in MaxPool2d(3, stride, 1) when strided; a 1x1 `skip` conv and
  `skipbn` when the shape changes, else the identity."""

  def __init__(self, c_in, c_out, reps, stride=1, start_with_relu=True, grow_first=True):
    super().__init__()
    if c_out != c_in or stride != 1:
      self.skip = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)
      self.skipbn = nn.BatchNorm2d(c_out)
    else:
      self.skip = None
    rep, c = [], c_in
    convs = [(c_in, c_out)] + [(c_out, c_out)] * (reps - 1) if grow_first else ([(c_in, c_in)] *
                                                                                (reps - 1) +
                                                                                [(c_in, c_out)])
    for a, b in convs:
      rep += [nn.ReLU(), SeparableConv2d(a, b), nn.BatchNorm2d(b)]
    if not start_with_relu:
      rep = rep[1:]
    if stride != 1:
      rep.append(nn.MaxPool2d(3, stride, 1))
    self.rep = nn.Sequential(*rep)

  def forward(self, x):
    skip = self.skipbn(self.skip(x)) if self.skip is not None else x
    return self.rep(x) + skip


class Xception(nn.Module):

  def __init__(self,
               inc=3,
               mode="original",
               num_classes=2,
               dropout=False,
               width=1.0,
               middle_blocks=8):
    super().__init__()
    assert 1 <= middle_blocks <= 8
    w = widths(width)
    self.mode, self.middle_blocks = mode, middle_blocks
    self.conv1 = nn.Conv2d(inc, w(32), 3, 2, 0, bias=False)
    self.bn1 = nn.BatchNorm2d(w(32))
    self.conv2 = nn.Conv2d(w(32), w(64), 3, bias=False)
    self.bn2 = nn.BatchNorm2d(w(64))
    self.block1 = Block(w(64), w(128), 2, 2, start_with_relu=False)
    self.block2 = Block(w(128), w(256), 2, 2)
    self.block3 = Block(w(256), w(728), 2, 2)
    for i in range(middle_blocks):
      setattr(self, f"block{4 + i}", Block(w(728), w(728), 3, 1))
    self.block12 = Block(w(728), w(1024), 2, 2, grow_first=False)
    self.conv3 = SeparableConv2d(w(1024), w(1536))
    self.bn3 = nn.BatchNorm2d(w(1536))
    self.conv4 = SeparableConv2d(w(1536), w(2048))
    self.bn4 = nn.BatchNorm2d(w(2048))
    linear = nn.Linear(w(2048), num_classes)
    self.last_linear = nn.Sequential(nn.Dropout(dropout), linear) if dropout else linear
    # DeepfakeBench builds it in every mode; only mode 'adjust_channel' runs it.
    self.adjust_channel = nn.Sequential(
        nn.Conv2d(w(2048), w(512), 1, 1), nn.BatchNorm2d(w(512)), nn.ReLU())

  def _blocks(self, first, stop):
    return [getattr(self, f"block{i}") for i in range(first, stop)]

  def fea_part1_0(self, x):
    return F.relu(self.bn1(self.conv1(x)))

  def fea_part1_1(self, x):
    return F.relu(self.bn2(self.conv2(x)))

  def fea_part2(self, x):
    for b in self._blocks(1, 4):
      x = b(x)
    return x

  def fea_part3(self, x):
    for b in self._blocks(4, 4 + (self.middle_blocks + 1) // 2):
      x = b(x)
    return x

  def fea_part4(self, x):
    for b in self._blocks(4 + (self.middle_blocks + 1) // 2, 4 + self.middle_blocks):
      x = b(x)
    return self.block12(x)

  def fea_part5(self, x):
    x = F.relu(self.bn3(self.conv3(x)))
    return self.bn4(self.conv4(x))

  def features(self, x):
    x = self.fea_part1_1(self.fea_part1_0(x))
    x = self.fea_part5(self.fea_part4(self.fea_part3(self.fea_part2(x))))
    return self.adjust_channel(x) if self.mode == "adjust_channel" else x

  def classifier(self, features):
    x = features if self.mode == "adjust_channel" else F.relu(features)
    return self.last_linear(F.adaptive_avg_pool2d(x, 1).flatten(1))

  def forward(self, x):
    f = self.features(x)
    return self.classifier(f), f


class XceptionDetector(nn.Module):
  """DeepfakeBench's `xception` detector: the network under `backbone`."""

  def __init__(self, **kw):
    super().__init__()
    self.backbone = Xception(**kw)

  def cam_map(self, x):
    """The map our model marks for Grad-CAM (the classifier's ReLU'd features)."""
    return F.relu(self.backbone.features(x))

  def forward(self, x):
    return self.backbone.classifier(self.backbone.features(x))


def phase_without_amplitude(img):
  """The phase-only reconstruction of the grayscale image, [B, 1, H, W]."""
  gray = img.mean(dim=1, keepdim=True)
  spectrum = torch.fft.fftn(gray, dim=(-1, -2))
  return torch.real(torch.fft.ifftn(torch.exp(1j * torch.angle(spectrum)), dim=(-1, -2)))


class SpslDetector(XceptionDetector):
  """DeepfakeBench's `spsl`: an Xception with 4 input channels, RGB and the phase image."""

  def __init__(self, **kw):
    super().__init__(inc=4, **kw)

  def _input(self, x):
    return torch.cat((x, phase_without_amplitude(x)), dim=1)

  def cam_map(self, x):
    return super().cam_map(self._input(x))

  def forward(self, x):
    return super().forward(self._input(x))
