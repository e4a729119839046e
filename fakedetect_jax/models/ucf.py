"""UCF (Yan et al. 2023, "Uncovering Common Features for Generalizable Deepfake Detection"): the
network DeepfakeBench's UCF detector (detectors/ucf_detector.py) runs at test time, for its
released checkpoints (models/deepfakebench).

The forgery encoder `encoder_f` (an Xception in DeepfakeBench's layout with mode
'adjust_channel': the exit flow's 2048 channels to 512 by a 1x1 conv with bias, batch norm and
ReLU), the shared-fingerprint block `block_sha` (1x1 convs with bias 512 -> 256 -> 256 -> 256,
LeakyReLU 0.01 between them) and its head `head_sha` (average pool, Linear(256, 512),
LeakyReLU, Linear(512, 2), here one logit). The fake probability is the head's, as in
DeepfakeBench's inference.

This is UCF's test-time network only: UCF trains it with a content encoder, a forgery-specific
branch and head, a conditional reconstruction decoder and contrastive, reconstruction and
method-classification losses, none of which is here. Training this model with the common
objective trains an Xception with an MLP head, not UCF's method. (DeepfakeBench's head drops out
its logits in training; `dropout` does the same to ours, 0 by default.)
Input [-1, 1]; `width` and `middle_blocks` shrink it for tests, as for Xception.
"""
import flax.linen as nn
import jax.numpy as jnp

from fakedetect_jax.models.layers import Conv1x1, cam_tap
from fakedetect_jax.models.registry import ModelSpec, register
from fakedetect_jax.models.xception import FEATURES, Xception


class UCF(nn.Module):
  dropout: float = 0.0
  width: float = 1.0
  middle_blocks: int = 8
  dtype: jnp.dtype = jnp.float32
  layout: str = "deepfakebench"
  feature_dim: int = 512  # DeepfakeBench's encoder_feat_dim

  @nn.compact
  def __call__(self, x, train=False):
    feat = max(8, int(self.feature_dim * self.width))
    half = feat // 2
    leaky = lambda z: nn.leaky_relu(z, 0.01)
    x = Xception(
        0.0,
        self.width,
        self.middle_blocks,
        self.dtype,
        self.layout,
        adjust_channel=feat,
        name="encoder_f")(x, train, FEATURES)
    for i in (0, 2, 4):  # block_sha.conv2d.{0,2,4}
      if i:
        x = leaky(x)
      x = Conv1x1(half, use_bias=True, dtype=self.dtype, name=f"block_sha_{i}")(x)
    x = cam_tap(self, x)
    h = leaky(nn.Dense(feat, dtype=self.dtype, name="head_sha_0")(jnp.mean(x, axis=(1, 2))))
    logit = nn.Dense(1, dtype=self.dtype, name="head_sha_2")(h)[:, 0]
    logit = nn.Dropout(self.dropout, deterministic=not train)(logit)
    return logit.astype(jnp.float32)


register("ucf", ModelSpec(UCF, default_size=256, min_size=32))
