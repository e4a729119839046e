"""Temporal forgery localization (LAV-DF, AV-Deepfake1M): where in a video the fake frames are.

Input (view 'segments', input/views.py): one window of L consecutive frames, x['frames']
[B,L,S,S,3], x['mouth'] [B,L,M,M] (both in [-1,1]), x['audio'] [B,L,W,80] log-mel slots per
frame with x['audio_valid'] [B,L,W], x['has_audio'] [B], x['face_found'] [B,L] and
x['frame_valid'] [B,L] (0 on padding past the video's end).

  per frame   a small conv net over the face crop, the lip-sync branch's mouth stream and audio
              stream (lipsync._Stream, with zero padding in time: a window's edges are real
              edges, unlike the sync objective's clips)
  fusion      visual = [face, mouth] and audio projected to one width, joined per frame with
              their product (the lip-sync agreement of that frame) and the face/audio flags
  temporal    residual temporal conv blocks with growing dilation (1, 2, 4, 8: a receptive
              field of 31 frames), then a masked self-attention block for window-wide context
              (no position code: order comes from the convs, whose zero padding marks the
              window's edges)
  head        anchor-free, per frame (ActionFormer, UMMAFormer): 3 fake logits (either
              modality, visual, audio) and 2 raw distances to the segment's start and end.

Output: float32 [B,L,5] raw. The objective 'localize' (train/localize.py) trains and decodes it
(sigmoid probabilities; distances in frames = dist_scale * exp(raw)), and
evaluate.localization.proposals_from_frames turns a video's stitched frames into segments.

Why anchor-free rather than BA-TFD+'s boundary-matching map: BMN-style heads score a dense
[D,T] map of (duration, start) proposals per window: O(D T) outputs and a D x T x N sampling
tensor, D a fixed maximum duration in frames, so the cost grows with the longest segment to be
found and segments longer than D are out of reach. Here every frame regresses its
own segment, O(T) outputs whatever the segment lengths, and a segment of any length in the window
is one frame's prediction; proposals from overlapping windows merge by soft-NMS. UMMAFormer (ACM
MM 2023), an anchor-free ActionFormer-style localizer, reports higher AP than BA-TFD+ on LAV-DF,
most of all at the strict IoU thresholds (AP@0.95).
"""
import math

import flax.linen as nn
import jax.numpy as jnp

from fakedetect_jax.models.lipsync import _Stream
from fakedetect_jax.models.registry import ModelSpec, register

# The fake logits (output channels 0-2, as frame_labels); channels 3-4 are the two distances.
CHANNELS = ("either", "visual", "audio")


class _FaceNet(nn.Module):
  """[B,L,S,S,3] -> [B,L,D]: a small conv net per face crop (global average pooled)."""
  width: int
  dtype: jnp.dtype

  @nn.compact
  def __call__(self, x, train):
    b, t = x.shape[:2]
    h = x.reshape((b * t,) + x.shape[2:]).astype(self.dtype)
    for i, f in enumerate((self.width // 4, self.width // 2, self.width)):
      h = nn.Conv(f, (3, 3), strides=(2, 2), use_bias=False, dtype=self.dtype, name=f"conv{i}")(h)
      h = nn.relu(nn.BatchNorm(use_running_average=not train, dtype=self.dtype, name=f"bn{i}")(h))
    return jnp.mean(h, axis=(1, 2)).reshape(b, t, -1)


class _TemporalBlock(nn.Module):
  """Pre-norm residual block: dilated temporal conv, GELU, pointwise; zero on padding."""
  dilation: int
  dropout: float
  dtype: jnp.dtype

  @nn.compact
  def __call__(self, h, mask, train):
    d = h.shape[-1]
    y = nn.LayerNorm(dtype=self.dtype)(h) * mask
    y = nn.Conv(d, (3,), kernel_dilation=(self.dilation,), padding="SAME", dtype=self.dtype)(y)
    y = nn.Dense(d, dtype=self.dtype)(nn.gelu(y))
    y = nn.Dropout(self.dropout)(y, deterministic=not train)
    return (h + y) * mask


class _AttentionBlock(nn.Module):
  heads: int
  dropout: float
  dtype: jnp.dtype

  @nn.compact
  def __call__(self, h, mask, train):
    d = h.shape[-1]
    valid = mask[..., 0] > 0
    attn_mask = nn.make_attention_mask(valid, valid)
    y = nn.LayerNorm(dtype=self.dtype)(h)
    y = nn.MultiHeadDotProductAttention(
        self.heads, dtype=self.dtype, deterministic=not train, dropout_rate=self.dropout)(
            y, y, mask=attn_mask)
    h = (h + y) * mask
    y = nn.Dense(2 * d, dtype=self.dtype)(nn.LayerNorm(dtype=self.dtype)(h))
    y = nn.Dense(d, dtype=self.dtype)(nn.gelu(y))
    y = nn.Dropout(self.dropout)(y, deterministic=not train)
    return (h + y) * mask


class Localizer(nn.Module):
  """Per-frame fake logits and segment boundary distances over a window (module docstring)."""
  width: int = 64  # the fusion, temporal trunk and heads
  frame_width: int = 32  # the per-frame encoders (face, mouth, audio); most of the FLOPs
  dilations: tuple = (1, 2, 4, 8)  # one temporal conv block each
  attention_blocks: int = 1
  heads: int = 4
  dropout: float = 0.1
  dist_scale: float = 4.0  # frames: a distance output of raw r decodes to dist_scale * exp(r)
  prior: float = 0.05  # initial fake probability of a frame (the heads' bias, as ActionFormer)
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train=False):
    b, t = x["frames"].shape[:2]
    valid = x.get("frame_valid", jnp.ones((b, t), jnp.float32)).astype(jnp.float32)
    mask = valid[..., None].astype(self.dtype)  # [B,L,1]
    # Padding frames are zeroed before any encoder, so what they held cannot reach a valid frame
    # (the last valid frames still see the blank frames' features through the streams' temporal
    # conv, not zeros; every later temporal layer sees zeros there, as at the window's edges).
    blank = lambda a: a * valid.reshape((b, t) + (1,) * (a.ndim - 2)).astype(a.dtype)
    fw = self.frame_width
    face = _FaceNet(fw, self.dtype, name="face")(blank(x["frames"]), train)
    mouth = _Stream(fw, self.dtype, padding="SAME", name="mouth")(blank(x["mouth"]), train)
    audio = x["audio"] * x["audio_valid"][..., None].astype(x["audio"].dtype)
    audio = _Stream(fw, self.dtype, padding="SAME", name="audio")(blank(audio), train)

    d = self.width
    v = nn.Dense(d, dtype=self.dtype, name="visual_proj")(jnp.concatenate([face, mouth], -1))
    a = nn.Dense(d, dtype=self.dtype, name="audio_proj")(audio)
    has_audio = x.get("has_audio", jnp.ones((b,), jnp.float32)).astype(self.dtype)
    flags = jnp.stack([
        x.get("face_found", jnp.ones((b, t), jnp.float32)).astype(self.dtype),
        jnp.broadcast_to(has_audio[:, None], (b, t)),
        jnp.mean(x["audio_valid"].astype(self.dtype), -1)
    ], -1)
    fused = jnp.concatenate([v, a, v * a, flags], -1)
    h = nn.Dense(d, dtype=self.dtype, name="fuse")(fused) * mask

    for i, dil in enumerate(self.dilations):
      h = _TemporalBlock(dil, self.dropout, self.dtype, name=f"tblock{i}")(h, mask, train)
    for i in range(self.attention_blocks):
      h = _AttentionBlock(self.heads, self.dropout, self.dtype, name=f"attn{i}")(h, mask, train)
    h = nn.LayerNorm(dtype=self.dtype, name="norm")(h) * mask

    def head(name, n, bias):
      y = nn.Conv(d, (3,), padding="SAME", dtype=self.dtype, name=f"{name}_conv")(h)
      y = nn.relu(y) * mask
      return nn.Dense(
          n, dtype=self.dtype, bias_init=nn.initializers.constant(bias), name=f"{name}_out")(
              y)

    logits = head("cls", len(CHANNELS), -math.log((1 - self.prior) / self.prior))
    dists = head("reg", 2, 0.0)
    return jnp.concatenate([logits, dists], -1).astype(jnp.float32)


# Faces are small here (the per-frame net only looks for blending and colour cues; lips and
# voice are the lip-sync streams' job); a window of 64 frames is ~2.6 s at 25 fps.
register(
    "localizer",
    ModelSpec(
        Localizer, default_size=64, min_size=8, view="segments", explainer=None, bench_size=32))
