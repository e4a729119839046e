"""Objective 'localize': temporal forgery localization over windows of frames (view 'segments').

The model gives float32 [B,L,5] raw per frame (models/localization.py): 3 fake logits (channels
of `frame_labels`: either modality, visual, audio) and 2 raw distances to the start and the end
of the fake segment the frame is in. Anchor-free as in ActionFormer / UMMAFormer:

  classification  sigmoid focal loss (gamma 2, alpha 0.25) on the 3 channels over the valid
                  frames: most frames are real, and the easy ones should not drown the rest
  boundaries      at every valid frame inside a fake run (channel 0), a 1-D DIoU loss between
                  the predicted segment [t - d_start, t + d_end] and the run, the distances'
                  targets computed in the window (`distance_targets`: a run the window's edge
                  cuts is clipped at it)
  both are summed over the batch and divided by its number of fake frames (ActionFormer's
  normaliser), split into per-row terms whose mean is that quotient.

score: the decoding the loss trains (`decode`): sigmoid probabilities (0 on padding frames) and
distances in frames, float32 [B,L,5]; evaluate.localization.proposals_from_frames turns a
video's stitched [T,5] into segments.
"""
import jax
import jax.numpy as jnp

from fakedetect_jax.train import objectives

# A raw distance r decodes to dist_scale * exp(r) frames (the model's dist_scale field): the
# IoU loss then moves short and long segments alike; r is clipped against overflow.
MAX_LOG_DISTANCE = 10.0


def decode(raw, dist_scale=1.0):
  """[..., 5] raw outputs -> probabilities (3) and distances in frames (2), float32."""
  raw = raw.astype(jnp.float32)
  dists = dist_scale * jnp.exp(jnp.clip(raw[..., 3:], -MAX_LOG_DISTANCE, MAX_LOG_DISTANCE))
  return jnp.concatenate([jax.nn.sigmoid(raw[..., :3]), dists], -1)


def distance_targets(labels):
  """0/1 labels [..., L] -> float32 [..., L, 2]: at a frame t inside a run of ones [s, e]
  (inclusive, clipped at the window's edges), t - s and e - t frames; 0 outside runs."""
  y = labels > 0
  n, axis = y.shape[-1], y.ndim - 1
  idx = jnp.arange(n)
  edge = [(0, 0)] * axis
  prev = jnp.pad(y[..., :-1], edge + [(1, 0)])
  following = jnp.pad(y[..., 1:], edge + [(0, 1)])
  start = jax.lax.cummax(jnp.where(y & ~prev, idx, -1), axis=axis)
  end = jax.lax.cummin(jnp.where(y & ~following, idx, n), axis=axis, reverse=True)
  d = jnp.stack([idx - start, end - idx], -1).astype(jnp.float32)
  return jnp.where(y[..., None], d, 0.0)


def diou_loss(pred, target):
  """1-D distance-IoU loss of segments given as distances (start, end) [..., 2] from the same
  frame, each covering [t - start, t + end + 1) (so a one-frame segment has length 1)."""
  inter = jnp.sum(jnp.minimum(pred, target), -1) + 1.0
  union = jnp.sum(jnp.maximum(pred, target), -1) + 1.0  # = the enclosing segment (both hold t)
  centre = ((pred[..., 1] - pred[..., 0]) - (target[..., 1] - target[..., 0])) / 2
  return 1.0 - inter / union + (centre / union)**2


def sigmoid_focal_loss(logits, targets, gamma=2.0, alpha=0.25):
  """Elementwise focal loss (Lin et al.; alpha weighs the positives, < 0 turns it off)."""
  p = jax.nn.sigmoid(logits)
  ce = jnp.maximum(logits, 0) - logits * targets + jnp.log1p(jnp.exp(-jnp.abs(logits)))
  p_t = p * targets + (1 - p) * (1 - targets)
  loss = ce * (1 - p_t)**gamma
  if alpha >= 0:
    loss = loss * (alpha * targets + (1 - alpha) * (1 - targets))
  return loss


def frame_valid(inputs, frames):
  """float32 [B,L]: inputs['frame_valid'] or all ones."""
  valid = inputs.get("frame_valid")
  return jnp.ones(frames, jnp.float32) if valid is None else valid.astype(jnp.float32)


def make_objective(gamma=2.0, alpha=0.25, boundary_weight=1.0):
  """The localize objective with these loss weights (registered below with the defaults)."""

  def loss(model, variables, inputs, labels, rng, frame_labels):
    raw, batch_stats, reg = objectives.apply_train(model, variables, inputs, rng)
    raw = raw.astype(jnp.float32)
    b = raw.shape[0]
    valid = frame_valid(inputs, raw.shape[:2])
    y = (frame_labels > 0).astype(jnp.float32) * valid[..., None]  # [B,L,3]
    # ActionFormer's normaliser: fake frames (channel 0) in the batch, per row.
    norm = jnp.maximum(jnp.sum(y[..., 0]) / b, 1.0)
    focal = sigmoid_focal_loss(raw[..., :3], y, gamma, alpha) * valid[..., None]
    pred = decode(raw, getattr(model, "dist_scale", 1.0))
    inside = y[..., 0]
    boundary = diou_loss(pred[..., 3:], distance_targets(inside)) * inside
    losses = (jnp.sum(focal, (1, 2)) + boundary_weight * jnp.sum(boundary, 1)) / norm + reg
    window = jnp.max(pred[..., 0] * valid, 1) > 0.5
    return losses, jnp.sum(window == (labels > 0)), batch_stats

  def score(model, variables, inputs):
    raw = model.apply(variables, inputs, train=False)
    out = decode(raw, getattr(model, "dist_scale", 1.0))
    valid = frame_valid(inputs, raw.shape[:2])
    return out.at[..., :3].multiply(valid[..., None])

  return objectives.Objective(loss, score, extra_keys=("frame_labels",))


objectives.register("localize", make_objective())
