"""DeepfakeBench's Meso4 and MesoInception4 (networks/mesonet.py) in PyTorch, same names."""
import torch
from torch import nn


class Meso4(nn.Module):

  def __init__(self, inc=3, num_classes=2):
    super().__init__()
    self.conv1 = nn.Conv2d(inc, 8, 3, padding=1, bias=False)
    self.bn1 = nn.BatchNorm2d(8)  # used after conv1 and conv2
    self.conv2 = nn.Conv2d(8, 8, 5, padding=2, bias=False)
    self.bn2 = nn.BatchNorm2d(16)  # used after conv3 and conv4
    self.conv3 = nn.Conv2d(8, 16, 5, padding=2, bias=False)
    self.conv4 = nn.Conv2d(16, 16, 5, padding=2, bias=False)
    self.fc1 = nn.Linear(16 * 8 * 8, 16)
    self.fc2 = nn.Linear(16, num_classes)

  def forward(self, x):
    pool = nn.functional.max_pool2d
    x = pool(self.bn1(torch.relu(self.conv1(x))), 2)
    x = pool(self.bn1(torch.relu(self.conv2(x))), 2)
    x = pool(self.bn2(torch.relu(self.conv3(x))), 2)
    x = pool(self.bn2(torch.relu(self.conv4(x))), 4)
    x = x.flatten(1)  # channel-first
    return self.fc2(nn.functional.leaky_relu(self.fc1(x), 0.1))


class MesoInception4(nn.Module):

  def __init__(self, num_classes=2):
    super().__init__()
    for layer, (c_in, a, b, c, d) in ((1, (3, 1, 4, 4, 2)), (2, (11, 2, 4, 4, 2))):
      p = f"Incption{layer}_"
      setattr(self, p + "conv1", nn.Conv2d(c_in, a, 1, bias=False))
      setattr(self, p + "conv2_1", nn.Conv2d(c_in, b, 1, bias=False))
      setattr(self, p + "conv2_2", nn.Conv2d(b, b, 3, padding=1, bias=False))
      setattr(self, p + "conv3_1", nn.Conv2d(c_in, c, 1, bias=False))
      setattr(self, p + "conv3_2", nn.Conv2d(c, c, 3, padding=2, dilation=2, bias=False))
      setattr(self, p + "conv4_1", nn.Conv2d(c_in, d, 1, bias=False))
      setattr(self, p + "conv4_2", nn.Conv2d(d, d, 3, padding=3, dilation=3, bias=False))
      setattr(self, p + "bn", nn.BatchNorm2d(a + b + c + d))
    self.conv1 = nn.Conv2d(12, 16, 5, padding=2, bias=False)
    self.bn1 = nn.BatchNorm2d(16)  # after conv1 and conv2
    self.conv2 = nn.Conv2d(16, 16, 5, padding=2, bias=False)
    self.fc1 = nn.Linear(16 * 8 * 8, 16)
    self.fc2 = nn.Linear(16, num_classes)

  def _inception(self, x, layer):
    g = lambda n: getattr(self, f"Incption{layer}_{n}")
    y = torch.cat([
        g("conv1")(x),
        g("conv2_2")(g("conv2_1")(x)),
        g("conv3_2")(g("conv3_1")(x)),
        g("conv4_2")(g("conv4_1")(x))
    ], 1)
    return nn.functional.max_pool2d(g("bn")(y), 2)

  def forward(self, x):
    x = self._inception(self._inception(x, 1), 2)
    x = nn.functional.max_pool2d(self.bn1(torch.relu(self.conv1(x))), 2)
    x = nn.functional.max_pool2d(self.bn1(torch.relu(self.conv2(x))), 4)
    return self.fc2(nn.functional.leaky_relu(self.fc1(x.flatten(1)), 0.1))
