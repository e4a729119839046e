"""F3-Net (Qian et al. ECCV 2020, "Thinking in Frequency"), as DeepfakeBench runs it
(detectors/f3net_detector.py, after github.com/yyk-wew/F3Net): the paper's frequency-aware
decomposition (FAD) alone, feeding an Xception whose first conv takes its 12 channels.

FAD: the 2-D DCT of each colour channel (D x D^T, D the orthonormal DCT-II matrix of the image
side), multiplied by four band filters over the frequency index sum u + v, each a fixed 0/1
base band plus a learnable [size, size] part squashed to (-1, 1) (2 sigmoid(w) - 1, w drawn
from N(0, 0.1)), shared by the colour channels; the inverse DCT (D^T y D) of each product takes
it back to pixels. The bands, DeepfakeBench's at side n: low u + v in [0, n // 2.82], middle
[n // 2.82, n // 2], high [n // 2, 2n] and all [0, 2n], both ends included (so the middle band
shares one diagonal with each neighbour). Output channels run band-major: band k's R, G, B
are channels 3k .. 3k + 2 (torch.cat of the four [N, 3, H, W] maps).

The DCT matrices and base bands are constants (fixed arithmetic, float32, computed at the input
side), not parameters; only the four learnable parts are (4 n^2 of them: 262,144 at 256 px).
Their shape follows the input side, so a model runs at the size it was initialised at (an
imported DeepfakeBench checkpoint: its resolution, 256). Square inputs only. The FAD runs in
float32 whatever the compute dtype (its matmuls at highest precision in a float32 model, at the
backend's default in a bfloat16 one) and the Xception in `dtype`.

The paper's second stream (LFS, local frequency statistics) and its MixBlock cross-attention are
not here: DeepfakeBench's published numbers (e.g. frame AUC .7352 on Celeb-DF-v2) come from
this FAD-only layout.

The Xception is `backbone` in DeepfakeBench's layout (models/xception.py), so its released
checkpoints import (models/deepfakebench, `--detector=f3net`); `layout='keras'` trains the
Keras-layout Xception instead; `width` and `middle_blocks` shrink it for tests. DeepfakeBench
starts from ImageNet Xception weights with conv1's kernel copied into each of the four bands'
three channels, divided by 4: `imagenet_npz` makes that file from a converted Xception .npz.
At 256 px: 21,073,737 parameters (Xception with a 12-channel conv1: 20,809,544; head: 2,049;
FAD: 262,144). DeepfakeBench's detector trains the same ones plus its 2-class head (4,098) and
the Xception's unused adjust_channel (1,050,112).
"""
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from fakedetect_jax.models.layers import cam_tap
from fakedetect_jax.models.registry import ModelSpec, register
from fakedetect_jax.models.xception import FEATURES, Xception

BANDS = 4  # low, middle, high, all
HIGHEST = jax.lax.Precision.HIGHEST


def dct_matrix(n):
  """[n, n] orthonormal DCT-II: D[k, j] = sqrt((1 if k == 0 else 2) / n) cos((j + 1/2) pi k / n)
  (DeepfakeBench's DCT_mat), in float64; D x D^T is the 2-D DCT of an n x n image."""
  k, j = np.arange(n)[:, None], np.arange(n)[None, :]
  scale = np.where(k == 0, np.sqrt(1.0 / n), np.sqrt(2.0 / n))
  return scale * np.cos((j + 0.5) * np.pi * k / n)


def band_edges(n):
  """The four bands' (start, end) of u + v at side n, DeepfakeBench's FAD_Head."""
  return ((0, n // 2.82), (n // 2.82, n // 2), (n // 2, n * 2), (0, n * 2))


def base_filters(n):
  """[4, n, n] float32: 1 where start <= u + v <= end (DeepfakeBench's generate_filter)."""
  s = np.add.outer(np.arange(n), np.arange(n))
  return np.stack([(s >= a) & (s <= b) for a, b in band_edges(n)]).astype(np.float32)


class BandFilter(nn.Module):
  """One band's learnable part [n, n] (DeepfakeBench's Filter.learnable); returns the filter
  base + 2 sigmoid(learnable) - 1."""

  @nn.compact
  def __call__(self, base):
    w = self.param("learnable", nn.initializers.normal(0.1), base.shape, jnp.float32)
    return base + 2.0 * jax.nn.sigmoid(w) - 1.0


def fad(x, filters, precision=HIGHEST):
  """[B, n, n, C] images and [4, n, n] band filters -> [B, n, n, 4C]: per band and channel the
  inverse DCT of (DCT of the channel) * filter; channels band-major. float32, matmuls at
  `precision` (1 GFLOP an image at 256 px)."""
  n = x.shape[1]
  d = jnp.asarray(dct_matrix(n), jnp.float32)
  freq = jnp.einsum("uh,bhwc,vw->buvc", d, x.astype(jnp.float32), d, precision=precision)
  y = jnp.einsum("uh,kuv,buvc,vw->bhwkc", d, filters, freq, d, precision=precision)
  return y.reshape(y.shape[:3] + (-1,))


class FADHead(nn.Module):
  """DeepfakeBench's FAD_Head: [B, n, n, 3] -> [B, n, n, 12] (float32)."""
  precision: Any = HIGHEST

  @nn.compact
  def __call__(self, x):
    if x.ndim != 4 or x.shape[1] != x.shape[2]:
      raise ValueError(f"F3Net's FAD takes square images [B, n, n, C], got {x.shape}")
    base = jnp.asarray(base_filters(x.shape[1]))
    filters = jnp.stack([BandFilter(name=f"filters_{i}")(base[i]) for i in range(BANDS)])
    return fad(x, filters, self.precision)


class F3Net(nn.Module):
  dropout: float = 0.5
  width: float = 1.0
  middle_blocks: int = 8
  dtype: jnp.dtype = jnp.float32
  layout: str = "deepfakebench"

  @nn.compact
  def __call__(self, x, train=False):
    # Full float32 matmuls for a float32 model (TPUs and TF32 GPUs otherwise round their
    # operands); a bfloat16 model rounds the FAD's output anyway.
    precision = HIGHEST if jnp.dtype(self.dtype) == jnp.float32 else None
    x = FADHead(precision, name="fad_head")(x).astype(self.dtype)
    backbone = Xception(
        self.dropout, self.width, self.middle_blocks, self.dtype, self.layout, name="backbone")
    x = backbone(x, train, FEATURES)
    x = cam_tap(self, nn.relu(x))  # the classifier's ReLU; Grad-CAM reads this map
    return backbone(x, train, ("head",))


def imagenet_npz(xception_npz, out):
  """Writes `out`, an .npz for `pretrained=` of f3net, from an Xception one (`python -m
  fakedetect_jax.models convert xception imagenet X.npz`): every variable under `backbone/`,
  block1_conv1's [3, 3, 3, 32] kernel tiled over the 12 FAD channels and divided by 4 (as
  DeepfakeBench initialises its conv1). Returns the number of arrays written."""
  arrays = {}
  with np.load(xception_npz) as f:
    for key in f.files:
      if key == "__model__":
        continue
      collection, rest = key.split("/", 1)
      value = f[key]
      if rest == "block1_conv1/kernel":
        value = np.tile(value, (1, 1, BANDS, 1)) / BANDS
      arrays[f"{collection}/backbone/{rest}"] = value
  np.savez(out, __model__=np.array("f3net"), **arrays)
  return len(arrays)


# Total stride 32 (Xception); DeepfakeBench runs it at 256 px.
register("f3net", ModelSpec(F3Net, default_size=256, min_size=32))
