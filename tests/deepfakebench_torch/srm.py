"""DeepfakeBench's SRM detector (detectors/srm_detector.py) in PyTorch, same names: two Xception
streams (RGB and SRM noise residuals) mixed by SRM-filter convs, pixel attention and two dual
cross-modal attentions, fused with channel attention, classified by the RGB stream's
`last_linear`. `width` / `middle_blocks` shrink both streams (deepfakebench_torch.xception);
`size` is the side of the map the cross-modal attentions see (16 at 256 px)."""
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from deepfakebench_torch import randomize as randomize_all
from deepfakebench_torch.xception import Xception, widths


def srm_filters():
  """The three fixed SRM high-pass filters, [3, 5, 5] (float32)."""
  f1 = np.zeros((5, 5))
  f1[1:4, 1:4] = [[-1, 2, -1], [2, -4, 2], [-1, 2, -1]]
  f2 = np.array([[-1, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2], [2, -6, 8, -6, 2],
                 [-1, 2, -2, 2, -1]], float)
  f3 = np.zeros((5, 5))
  f3[2, 1:4] = [1, -2, 1]
  return np.stack([f1 / 4, f2 / 12, f3 / 2]).astype(np.float32)


class SRMConv2dSimple(nn.Module):
  """Each filter over the sum of all input channels, clipped to [-3, 3]; `kernel` is fixed."""

  def __init__(self, inc=3):
    super().__init__()
    self.kernel = nn.Parameter(torch.from_numpy(self.fixed(inc)), requires_grad=False)

  @staticmethod
  def fixed(inc):
    return np.repeat(srm_filters()[:, None], inc, axis=1)  # [3, inc, 5, 5]

  def forward(self, x):
    return F.hardtanh(F.conv2d(x, self.kernel, padding=2), -3, 3)


class SRMConv2dSeparate(nn.Module):
  """A grouped conv (3 outputs per input channel) with the filters repeated channel-major,
  [3 * inc, 1, 5, 5] (output k: filter k // inc on channel k // 3), clipped, then `out_conv`."""

  def __init__(self, inc, outc):
    super().__init__()
    self.inc = inc
    self.kernel = nn.Parameter(torch.from_numpy(self.fixed(inc)), requires_grad=False)
    self.out_conv = nn.Sequential(
        nn.Conv2d(3 * inc, outc, 1, bias=False), nn.BatchNorm2d(outc), nn.ReLU())

  @staticmethod
  def fixed(inc):
    return np.repeat(srm_filters()[:, None], inc, axis=0)  # [3 * inc, 1, 5, 5]

  def forward(self, x):
    y = F.hardtanh(F.conv2d(x, self.kernel, padding=2, groups=self.inc), -3, 3)
    return self.out_conv(y)


class SpatialAttention(nn.Module):

  def __init__(self):
    super().__init__()
    self.conv = nn.Conv2d(2, 1, 7, padding=3, bias=False)

  def forward(self, x):
    pooled = torch.cat([x.mean(dim=1, keepdim=True), x.max(dim=1, keepdim=True)[0]], dim=1)
    return torch.sigmoid(self.conv(pooled))


class SRMPixelAttention(nn.Module):

  def __init__(self, w):
    super().__init__()
    self.srm = SRMConv2dSimple()
    self.conv = nn.Sequential(
        nn.Conv2d(3, w(32), 3, 2, 0, bias=False), nn.BatchNorm2d(w(32)), nn.ReLU(),
        nn.Conv2d(w(32), w(64), 3, bias=False), nn.BatchNorm2d(w(64)), nn.ReLU())
    self.pa = SpatialAttention()

  def forward(self, x):
    return self.pa(self.conv(self.srm(x)))


class DualCrossModalAttention(nn.Module):

  def __init__(self, in_dim, size=16, ratio=8):
    super().__init__()
    self.key_conv1 = nn.Conv2d(in_dim, in_dim // ratio, 1)
    self.key_conv2 = nn.Conv2d(in_dim, in_dim // ratio, 1)
    self.key_conv_share = nn.Conv2d(in_dim // ratio, in_dim // ratio, 1)
    self.linear1 = nn.Linear(size * size, size * size)
    self.linear2 = nn.Linear(size * size, size * size)
    self.value_conv1 = nn.Conv2d(in_dim, in_dim, 1)
    self.gamma1 = nn.Parameter(torch.zeros(1))
    self.value_conv2 = nn.Conv2d(in_dim, in_dim, 1)
    self.gamma2 = nn.Parameter(torch.zeros(1))

  def forward(self, x, y):
    b, c, h, w = x.shape
    k1 = self.key_conv_share(self.key_conv1(x)).view(b, -1, h * w).permute(0, 2, 1)
    k2 = self.key_conv_share(self.key_conv2(y)).view(b, -1, h * w)
    energy = torch.bmm(k1, k2)  # [B, HW of x, HW of y]
    att_y_on_x = torch.softmax(self.linear1(energy), dim=-1)
    att_x_on_y = torch.softmax(self.linear2(energy.permute(0, 2, 1)), dim=-1)
    v_y = self.value_conv2(y).view(b, -1, h * w)
    out_x = self.gamma1 * torch.bmm(v_y, att_y_on_x.permute(0, 2, 1)).view(b, c, h, w) + x
    v_x = self.value_conv1(x).view(b, -1, h * w)
    out_y = self.gamma2 * torch.bmm(v_x, att_x_on_y.permute(0, 2, 1)).view(b, c, h, w) + y
    return out_x, out_y


class ChannelAttention(nn.Module):

  def __init__(self, planes, ratio=16):
    super().__init__()
    self.sharedMLP = nn.Sequential(
        nn.Conv2d(planes, planes // ratio, 1, bias=False), nn.ReLU(),
        nn.Conv2d(planes // ratio, planes, 1, bias=False))

  def forward(self, x):
    return torch.sigmoid(
        self.sharedMLP(F.adaptive_avg_pool2d(x, 1)) + self.sharedMLP(F.adaptive_max_pool2d(x, 1)))


class FeatureFusionModule(nn.Module):

  def __init__(self, c):
    super().__init__()
    self.convblk = nn.Sequential(nn.Conv2d(2 * c, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU())
    self.ca = ChannelAttention(c, ratio=16)

  def forward(self, x, y):
    fused = self.convblk(torch.cat((x, y), dim=1))
    return fused * self.ca(fused)


class GaussianSmoothing(nn.Module):
  """Train-time blur; only its buffer `weight` reaches the state dict."""

  def __init__(self, channels=3, kernel_size=7, sigma=0.8):
    super().__init__()
    r = torch.arange(kernel_size, dtype=torch.float32) - (kernel_size - 1) / 2
    g = torch.exp(-(r / sigma)**2 / 2)
    k = g[:, None] * g[None, :]
    self.register_buffer("weight", (k / k.sum()).expand(channels, 1, -1, -1).clone())

  def forward(self, x):
    return x


class SRMDetector(nn.Module):

  def __init__(self, width=1.0, middle_blocks=8, size=16):
    super().__init__()
    w = widths(width)
    kw = dict(width=width, middle_blocks=middle_blocks)
    self.backbone_rgb = Xception(**kw)
    self.backbone_srm = Xception(**kw)
    self.blur = GaussianSmoothing()
    self.srm_conv0 = SRMConv2dSimple(inc=3)
    self.srm_conv1 = SRMConv2dSeparate(w(32), w(32))
    self.srm_conv2 = SRMConv2dSeparate(w(64), w(64))
    self.srm_sa = SRMPixelAttention(w)
    self.srm_sa_post = nn.Sequential(nn.BatchNorm2d(w(64)), nn.ReLU())
    self.dual_cma0 = DualCrossModalAttention(w(728), size)
    self.dual_cma1 = DualCrossModalAttention(w(728), size)
    self.fusion = FeatureFusionModule(w(2048))

  def features(self, x):
    rgb, noise = self.backbone_rgb, self.backbone_srm
    srm = self.srm_conv0(x)
    x = rgb.fea_part1_0(x)
    y = F.relu(noise.fea_part1_0(srm) + self.srm_conv1(x))
    x = rgb.fea_part1_1(x)
    y = F.relu(noise.fea_part1_1(y) + self.srm_conv2(x))
    x = self.srm_sa_post(x * self.srm_sa(srm) + x)
    x, y = self.dual_cma0(rgb.fea_part2(x), noise.fea_part2(y))
    x, y = self.dual_cma1(rgb.fea_part3(x), noise.fea_part3(y))
    x = rgb.fea_part5(rgb.fea_part4(x))
    y = noise.fea_part5(noise.fea_part4(y))
    return self.fusion(x, y)

  def cam_map(self, x):
    return F.relu(self.features(x))

  def forward(self, x):
    return self.backbone_rgb.classifier(self.features(x))


def randomize(model, seed=0):
  """deepfakebench_torch.randomize, then the fixed SRM kernels back (they are not learnt) and
  the attentions' residual gains (0 at init) of order 1, so that the attention shows."""
  randomize_all(model, seed)
  g = torch.Generator().manual_seed(seed + 1)
  with torch.no_grad():
    for m in model.modules():
      if isinstance(m, SRMConv2dSimple):
        m.kernel.copy_(torch.from_numpy(m.fixed(m.kernel.shape[1])))
      if isinstance(m, SRMConv2dSeparate):
        m.kernel.copy_(torch.from_numpy(m.fixed(m.inc)))
      if isinstance(m, DualCrossModalAttention):
        m.gamma1.copy_(0.5 + torch.rand(1, generator=g))
        m.gamma2.copy_(0.5 + torch.rand(1, generator=g))
  return model.eval()
