"""Audio-visual lip-sync branch: a two-stream model in the manner of SyncNet (Chung & Zisserman).

Inputs (view 'av'): x['mouth'] [B,T,M,M] in [-1,1], x['audio'] [B,T,W,80] log-mel windows
centred on each frame, x['audio_valid'] [B,T,W], x['has_audio'] [B].
  mouth stream  per-frame conv net, then a temporal conv (lip motion needs neighbours) -> v_t
  audio stream  per-frame conv net over the window, then a temporal conv -> a_t
`sync_logits` scores 2K+1 candidate offsets k (audio rolled by k frames against the video):
the scaled mean cosine of v_t and a_{t+k}. Pre-training (objective 'sync') asks for offset 0 on
in-sync videos, the shifted audio being the negatives; the classifier (`__call__`) then reads the
offset profile and both streams' summaries to give one fake logit. `report` gives what a user
wants to see: the sync score, the best offset (frames) and the fake probability.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp

from fakedetect_jax.models.registry import ModelSpec, register


class _Stream(nn.Module):
  """[B,T,h,w] -> [B,T,D]: a 2D conv net per frame and a temporal conv across frames.

  `padding` of the temporal conv: CIRCULAR for the sync objective (below); SAME (zeros) where
  the clip's edges are real edges (the localizer's windows, models/localization.py)."""
  width: int
  dtype: jnp.dtype
  padding: str = "CIRCULAR"

  @nn.compact
  def __call__(self, x, train):
    b, t = x.shape[:2]
    h = x.reshape((b * t,) + x.shape[2:] + (1,)).astype(self.dtype)
    for i, f in enumerate((self.width // 4, self.width // 2, self.width)):
      h = nn.Conv(f, (3, 3), strides=(2, 2), use_bias=False, dtype=self.dtype, name=f"conv{i}")(h)
      h = nn.relu(nn.BatchNorm(use_running_average=not train, dtype=self.dtype, name=f"bn{i}")(h))
    h = jnp.mean(h, axis=(1, 2)).reshape(b, t, -1)
    # Circular padding: rolling the input rolls the output, so no frame knows where the clip
    # starts or ends (zero padding would let both streams mark the edges, and the sync
    # objective would match edges instead of lips and voice).
    h = nn.relu(nn.Conv(self.width, (3,), padding=self.padding, dtype=self.dtype, name="tconv")(h))
    return nn.Dense(self.width, dtype=self.dtype, name="proj")(h)


class LipSync(nn.Module):
  width: int = 64
  max_offset: int = 3  # K: offsets -K..K frames
  dropout: float = 0.2
  dtype: jnp.dtype = jnp.float32

  def setup(self):
    self.mouth_stream = _Stream(self.width, self.dtype)
    self.audio_stream = _Stream(self.width, self.dtype)
    self.log_scale = self.param("log_scale", nn.initializers.constant(jnp.log(10.0)), ())
    self.hidden = nn.Dense(self.width, dtype=self.dtype)
    self.drop = nn.Dropout(self.dropout)
    self.out = nn.Dense(1, dtype=self.dtype)

  def _streams(self, x, train):
    v = self.mouth_stream(x["mouth"], train)
    audio = x["audio"] * x["audio_valid"][..., None].astype(x["audio"].dtype)
    a = self.audio_stream(audio, train)
    norm = lambda z: z / (
        jnp.linalg.norm(z.astype(jnp.float32), axis=-1, keepdims=True).astype(z.dtype) + 1e-6)
    return norm(v), norm(a)

  def _offset_scores(self, v, a):
    # Rolling wraps the clip's end onto its start: still audio of this clip, still out of sync.
    sims = [
        jnp.mean(jnp.sum(v * jnp.roll(a, k, axis=1), -1), axis=1)
        for k in range(-self.max_offset, self.max_offset + 1)
    ]
    return jnp.stack(sims, -1).astype(jnp.float32)  # [B, 2K+1] cosines

  def sync_logits(self, x, train=False):
    """[B, 2K+1] logits over audio offsets -K..K (centre = in sync)."""
    v, a = self._streams(x, train)
    return self._offset_scores(v, a) * jnp.exp(self.log_scale)

  def __call__(self, x, train=False):
    v, a = self._streams(x, train)
    cos = self._offset_scores(v, a)
    k = self.max_offset
    # The offset profile says whether lips and voice agree; the pooled streams let the head
    # weigh how much speech there was to judge by.
    feats = jnp.concatenate([
        cos, cos[:, k:k + 1] - jnp.max(cos, -1, keepdims=True),
        v.mean(1).astype(jnp.float32),
        a.mean(1).astype(jnp.float32)
    ], -1)
    h = nn.relu(self.hidden(feats.astype(self.dtype)))
    h = self.drop(h, deterministic=not train)
    return self.out(h)[:, 0].astype(jnp.float32)

  def report(self, x):
    """{'sync_score': cosine at offset 0 minus the mean over offsets, 'offset': best offset in
    frames (audio later than video is positive), 'fake_prob'} per example."""
    v, a = self._streams(x, False)
    cos = self._offset_scores(v, a)
    return {
        "sync_score": cos[:, self.max_offset] - cos.mean(-1),
        "offset": jnp.argmax(cos, -1) - self.max_offset,
        "fake_prob": jax.nn.sigmoid(self(x, False))
    }


# Reads mouth crops and audio; the face frames only ride along (configs/lipsync.py: 32 px).
register("lipsync",
         ModelSpec(LipSync, default_size=32, min_size=1, view="av", explainer=None, bench_size=64))
