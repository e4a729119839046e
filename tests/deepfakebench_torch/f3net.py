"""DeepfakeBench's F3Net detector (detectors/f3net_detector.py) in PyTorch, same names: `FAD_head`
(the DCT matrices `_DCT_all` / `_DCT_all_T` and four `filters`, each a fixed 0/1 `base` band
over u + v plus a `learnable` [size, size] part) feeding `backbone`, an Xception whose `conv1`
takes 12 channels. `width` / `middle_blocks` shrink the Xception (deepfakebench_torch.xception);
`size` is the FAD's side (DeepfakeBench: its resolution, 256). Its fixed tensors are
nn.Parameters with requires_grad=False, as DeepfakeBench declares them (so they are in the state
dict but not among the trainable parameters)."""
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from deepfakebench_torch import randomize as randomize_all
from deepfakebench_torch.xception import Xception


def dct_mat(size):
  """Row i: sqrt(1/size) (i = 0) or sqrt(2/size), times cos((j + 0.5) pi i / size)."""
  return [[(math.sqrt(1.0 / size) if i == 0 else math.sqrt(2.0 / size)) * math.cos(
      (j + 0.5) * math.pi * i / size) for j in range(size)] for i in range(size)]


def generate_filter(start, end, size):
  return [[0.0 if i + j > end or i + j < start else 1.0 for j in range(size)] for i in range(size)]


class Filter(nn.Module):

  def __init__(self, size, band_start, band_end):
    super().__init__()
    self.band = (band_start, band_end, size)
    self.base = nn.Parameter(
        torch.tensor(generate_filter(band_start, band_end, size)), requires_grad=False)
    self.learnable = nn.Parameter(torch.randn(size, size) * 0.1)

  def fixed(self):
    return torch.tensor(generate_filter(*self.band))

  def forward(self, x):
    return x * (self.base + 2.0 * torch.sigmoid(self.learnable) - 1.0)


class FADHead(nn.Module):

  def __init__(self, size):
    super().__init__()
    self.size = size
    self._DCT_all = nn.Parameter(torch.tensor(dct_mat(size)).float(), requires_grad=False)
    self._DCT_all_T = nn.Parameter(
        torch.tensor(dct_mat(size)).float().transpose(0, 1), requires_grad=False)
    bands = [(0, size // 2.82), (size // 2.82, size // 2), (size // 2, size * 2), (0, size * 2)]
    self.filters = nn.ModuleList([Filter(size, a, b) for a, b in bands])

  def forward(self, x):
    freq = self._DCT_all @ x @ self._DCT_all_T
    return torch.cat([self._DCT_all_T @ f(freq) @ self._DCT_all for f in self.filters], dim=1)


class F3netDetector(nn.Module):

  def __init__(self, size=256, **kw):
    super().__init__()
    self.backbone = Xception(inc=12, **kw)
    self.FAD_head = FADHead(size)

  def features(self, x):
    return self.backbone.features(self.FAD_head(x))

  def cam_map(self, x):
    """The map our model marks for Grad-CAM (the classifier's ReLU'd features)."""
    return F.relu(self.features(x))

  def forward(self, x):
    return self.backbone.classifier(self.features(x))


def randomize(model, seed=0):
  """deepfakebench_torch.randomize, then the fixed DCT matrices and base bands back (they are
  not learnt); the learnable band parts stay random (spread like their N(0, 0.1) init)."""
  randomize_all(model, seed)
  with torch.no_grad():
    for m in model.modules():
      if isinstance(m, FADHead):
        d = torch.tensor(np.asarray(dct_mat(m.size), np.float64)).float()
        m._DCT_all.copy_(d)
        m._DCT_all_T.copy_(d.transpose(0, 1))
      if isinstance(m, Filter):
        m.base.copy_(m.fixed())
  return model.eval()
