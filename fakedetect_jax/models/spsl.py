"""SPSL (Liu et al. 2021, "Spatial-Phase Shallow Learning"), as DeepfakeBench runs it
(detectors/spsl_detector.py): an Xception whose input is the RGB image plus a fourth channel,
the phase-only reconstruction of its grayscale version (the mean of the normalised channels,
2-D FFT, unit amplitude with the phase kept, inverse FFT, real part). Up-sampling artefacts
of face swaps show in the phase spectrum; the shallow features of the first layers read them.

The phase channel is computed on the device (jnp.fft, a native XLA op) in float32 whatever the
compute dtype, and carries no gradient (it depends on the input alone). Input [-1, 1] (what
DeepfakeBench's mean 0.5 / std 0.5 normalisation gives), one logit out.

The Xception is `backbone` in DeepfakeBench's layout (models/xception.py: PyTorch batch norm
and pooling), so its released checkpoints import into this model (models/deepfakebench);
`layout='keras'` trains the Keras-layout Xception instead. `width` and `middle_blocks` shrink
it for tests, as for Xception.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp

from fakedetect_jax.models.layers import cam_tap
from fakedetect_jax.models.registry import ModelSpec, register
from fakedetect_jax.models.xception import FEATURES, Xception


def phase_only(x):
  """[B, H, W, C] images -> [B, H, W, 1]: the real part of the inverse FFT of the grayscale
  image's spectrum with every amplitude set to 1 (a zero frequency keeps phase 0, as
  torch.angle gives it)."""
  gray = jnp.mean(x.astype(jnp.float32), axis=-1)
  spectrum = jnp.fft.fft2(gray, axes=(1, 2))
  unit = jnp.exp(1j * jnp.angle(spectrum))
  return jnp.real(jnp.fft.ifft2(unit, axes=(1, 2)))[..., None]


class SPSL(nn.Module):
  dropout: float = 0.5
  width: float = 1.0
  middle_blocks: int = 8
  dtype: jnp.dtype = jnp.float32
  layout: str = "deepfakebench"

  @nn.compact
  def __call__(self, x, train=False):
    phase = jax.lax.stop_gradient(phase_only(x))
    x = jnp.concatenate([x.astype(jnp.float32), phase], axis=-1).astype(self.dtype)
    backbone = Xception(
        self.dropout, self.width, self.middle_blocks, self.dtype, self.layout, name="backbone")
    x = backbone(x, train, FEATURES)
    x = cam_tap(self, nn.relu(x))  # the classifier's ReLU; Grad-CAM reads this map
    return backbone(x, train, ("head",))


register("spsl", ModelSpec(SPSL, default_size=256, min_size=32))
