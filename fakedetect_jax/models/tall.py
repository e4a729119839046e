"""TALL (Xu et al. ICCV 2023, "Thumbnail Layout for Deepfake Video Detection") on the clips view:
consecutive frames laid out as one image, so an image backbone sees space and time at once.

A clip x['frames'] [B, T, H, W, 3] is cut into sub-clips of rows^2 = 4 consecutive frames
(T = 16: 4 sub-clips); in training each sub-clip's frames lose the same square block (TALL's
masking: `mask_size` px of the input frames, centre uniform over the frame, clipped at its
edges, set to -1; DeepfakeBench's TALLDataset, mask_grid_size 16); each frame is halved (2x2
average pooling: what DeepfakeBench's bilinear resize of the tiled 2H x 2W image to H x W
computes) and the four are tiled row by row into one thumbnail of the input size: frame k of
the sub-clip at row k // 2, column k % 2 (einops 'b (th tw c) h w -> b c (th h) (tw w)', as
DeepfakeBench's create_thumbnail). A clip whose length is not a multiple of 4 is completed with
zero frames, as DeepfakeBench pads (pad_frames). Each thumbnail goes through `backbone`, a
registered frame model (models.REGISTRY, view 'frames') built with `backbone_kwargs`, `dtype`
and, when set, `dropout`; the clip's logit is the mean of its thumbnails' (float32 [B]).

The paper's (and DeepfakeBench's) backbone is Swin-B (patch 4, windows 14/14/14/7, ImageNet-22k
weights) with a learned per-frame position embedding added to each sub-image's tokens; there is
no Swin here, and a registered frame model has no token grid to add it to, so neither is.
The default backbone is EfficientNet-B0 (cheap, ImageNet weights from Keras); 'xception',
'efficientnet_b4' or 'vit_b16' (a transformer of Swin-B's size) are other choices. Input sizes
must be even and at least the backbone's min_size. DeepfakeBench reads clips of 4 frames (one
thumbnail a clip) at 224 px and masks in every split; here the mask is training only (no
randomness at evaluation) and a clip of 16 gives 4 thumbnails.

`backbone_npz` nests a converted backbone .npz (`python -m fakedetect_jax.models convert
efficientnet_b0 imagenet B0.npz`) under `backbone/` for `pretrained=`.
"""
from collections.abc import Mapping
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from fakedetect_jax.models import registry
from fakedetect_jax.models.registry import ModelSpec, register


def sub_clips(frames, per_thumbnail):
  """[B, T, H, W, C] -> [B, G, per_thumbnail, H, W, C], G = ceil(T / per_thumbnail), the last
  sub-clip completed with zero frames."""
  b, t = frames.shape[:2]
  pad = -t % per_thumbnail
  if pad:
    frames = jnp.concatenate([frames, jnp.zeros((b, pad) + frames.shape[2:], frames.dtype)], 1)
  return frames.reshape((b, -1, per_thumbnail) + frames.shape[2:])


def cutout(groups, rng, size, fill=-1.0):
  """[B, G, k, H, W, C]: one square of side `size` per sub-clip, the same in its k frames, set to
  `fill`; centre (x, y) uniform over the pixels, the square [y - size // 2, y + size // 2) x
  [x - size // 2, ...) clipped to the frame (DeepfakeBench's TALLDataset)."""
  b, g, _, h, w, _ = groups.shape
  ky, kx = jax.random.split(rng)
  y = jax.random.randint(ky, (b, g, 1, 1, 1, 1), 0, h)
  x = jax.random.randint(kx, (b, g, 1, 1, 1, 1), 0, w)
  rows = jnp.arange(h).reshape(1, 1, 1, h, 1, 1)
  cols = jnp.arange(w).reshape(1, 1, 1, 1, w, 1)
  half = size // 2
  inside = ((rows >= y - half) & (rows < y + half) & (cols >= x - half) & (cols < x + half))
  return jnp.where(inside, jnp.asarray(fill, groups.dtype), groups)


def tile(groups, rows=2):
  """[B, G, rows^2, H, W, C] -> thumbnails [B, G, H, W, C]: each frame averaged over rows x rows
  blocks (H, W multiples of rows) and placed row-major, frame k at (k // rows, k % rows)."""
  b, g, k, h, w, c = groups.shape
  if k != rows * rows or h % rows or w % rows:
    raise ValueError(f"TALL thumbnails: expected {rows * rows} frames of a side divisible by "
                     f"{rows}, got {k} frames of {h}x{w}")
  small = groups.reshape(b, g, k, h // rows, rows, w // rows, rows, c).mean((4, 6))
  grid = small.reshape(b, g, rows, rows, h // rows, w // rows, c)
  return grid.transpose(0, 1, 2, 4, 3, 5, 6).reshape(b, g, h, w, c)


def thumbnails(frames, rows=2, rng=None, mask_size=0):
  """[B, T, H, W, C] clips -> [B, G, H, W, C] thumbnails (masked when rng and mask_size)."""
  groups = sub_clips(frames, rows * rows)
  if rng is not None and mask_size > 0:
    groups = cutout(groups, rng, mask_size)
  return tile(groups, rows)


class TALL(nn.Module):
  backbone: str = "efficientnet_b0"
  backbone_kwargs: Any = ()  # (name, value) pairs or a mapping, e.g. (("width", 0.25),)
  rows: int = 2
  mask_size: int = 16
  dropout: Optional[float] = None  # None: the backbone's default
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train=False):
    frames = x["frames"]
    b, _, h, w = frames.shape[:4]
    spec = registry.spec(self.backbone)
    if spec.view != "frames":
      raise ValueError(f"TALL's backbone must be a frame model, {self.backbone!r} takes the "
                       f"{spec.view!r} view")
    if min(h, w) < spec.min_size:
      raise ValueError(f"TALL thumbnails of {h}x{w} px are below the smallest input of "
                       f"{self.backbone} ({spec.min_size} px)")
    kwargs = dict(self.backbone_kwargs.items() if isinstance(self.backbone_kwargs, Mapping
                                                            ) else self.backbone_kwargs)
    if self.dropout is not None:
      kwargs.setdefault("dropout", self.dropout)
    rng = self.make_rng("dropout") if train and self.mask_size > 0 else None
    thumbs = thumbnails(frames.astype(jnp.float32), self.rows, rng, self.mask_size)
    g = thumbs.shape[1]
    net = spec.cls(dtype=self.dtype, name="backbone", **kwargs)
    logits = net(thumbs.reshape((b * g,) + thumbs.shape[2:]).astype(self.dtype), train=train)
    return logits.astype(jnp.float32).reshape(b, g).mean(axis=1)


def backbone_npz(src, out):
  """Writes `out`, an .npz for `pretrained=` of tall, from a converted backbone .npz (`python -m
  fakedetect_jax.models convert <backbone> ...`): every variable moved under `backbone/`.
  Returns the number of arrays written."""
  with np.load(src) as f:
    arrays = {
        "{}/backbone/{}".format(*key.split("/", 1)): f[key] for key in f.files if key != "__model__"
    }
  np.savez(out, __model__=np.array("tall"), **arrays)
  return len(arrays)


# Thumbnails are data.image_size (default 224, DeepfakeBench's); 32: EfficientNet-B0's least.
register("tall", ModelSpec(TALL, default_size=224, min_size=32, view="clips", explainer=None))
