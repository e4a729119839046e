"""DeepfakeBench's UCF detector (detectors/ucf_detector.py) in PyTorch, same names, at test time:
the forgery encoder `encoder_f` (Xception, mode 'adjust_channel'), the shared-fingerprint
`block_sha` (three 1x1 convs with LeakyReLU) and `head_sha` (pool, MLP). The train-only parts
(content encoder `encoder_c`, the specific branch `block_spe` / `head_spe`, the reconstruction
decoder `con_gan`) are built too, so the state dict is what UCF saves; `con_gan` is a stand-in
with a few of its tensor names. `width` / `middle_blocks` shrink it (deepfakebench_torch.xception)."""
import torch
from torch import nn
from torch.nn import functional as F

from deepfakebench_torch.xception import Xception, widths


class Conv2d1x1(nn.Module):

  def __init__(self, in_f, hidden, out_f):
    super().__init__()
    self.conv2d = nn.Sequential(
        nn.Conv2d(in_f, hidden, 1), nn.LeakyReLU(), nn.Conv2d(hidden, hidden, 1), nn.LeakyReLU(),
        nn.Conv2d(hidden, out_f, 1))

  def forward(self, x):
    return self.conv2d(x)


class Head(nn.Module):

  def __init__(self, in_f, hidden, out_f):
    super().__init__()
    self.mlp = nn.Sequential(nn.Linear(in_f, hidden), nn.LeakyReLU(), nn.Linear(hidden, out_f))

  def forward(self, x):
    feat = F.adaptive_avg_pool2d(x, 1).flatten(1)
    return self.mlp(feat), feat


class ConGanStandIn(nn.Module):
  """Not run: tensors named like the Conditional_UNet's, for the state dict only."""

  def __init__(self, w):
    super().__init__()
    self.dconv_up3 = nn.Sequential(nn.Conv2d(w(512), w(256), 3, padding=1))
    self.conv_last = nn.Conv2d(w(64), 3, 1)


class UCFDetector(nn.Module):

  def __init__(self, width=1.0, middle_blocks=8, specific_tasks=5):
    super().__init__()
    w = widths(width)
    kw = dict(mode="adjust_channel", width=width, middle_blocks=middle_blocks)
    feat = w(512)  # encoder_feat_dim
    self.encoder_f = Xception(**kw)
    self.encoder_c = Xception(**kw)
    self.con_gan = ConGanStandIn(w)
    self.head_spe = Head(feat // 2, feat, specific_tasks)
    self.head_sha = Head(feat // 2, feat, 2)
    self.block_spe = Conv2d1x1(feat, feat // 2, feat // 2)
    self.block_sha = Conv2d1x1(feat, feat // 2, feat // 2)

  def cam_map(self, x):
    """The map our model marks for Grad-CAM: the shared fingerprint features."""
    return self.block_sha(self.encoder_f.features(x))

  def forward(self, x):
    return self.head_sha(self.cam_map(x))[0]
