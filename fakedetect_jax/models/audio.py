"""Audio-only branch for fake voices (FakeAVCeleb's RealVideo-FakeAudio): a log-mel CNN.

Input (view 'audio' or 'av'): x['audio'] [B,T,W,80] log-mel windows centred on each sampled
frame, x['audio_valid'] [B,T,W]. Each window is one small spectrogram; a conv net embeds it,
the embeddings are averaged over the windows that hold audio, and a dense layer gives the logit.
A vocoder leaves its marks in the spectral fine structure (harmonics, missing formants), which a
spectrogram CNN sees in any 0.2 s window.
"""
import flax.linen as nn
import jax.numpy as jnp

from fakedetect_jax.models import layers
from fakedetect_jax.models.registry import ModelSpec, register


class AudioCNN(nn.Module):
  widths: tuple = (16, 32, 64)
  dropout: float = 0.3
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train=False):
    valid = x["audio_valid"].astype(jnp.float32)  # [B, T, W]
    audio = x["audio"].astype(self.dtype)
    b, t, w, m = audio.shape
    h = (audio * valid[..., None].astype(self.dtype)).reshape(b * t, w, m, 1)
    for i, f in enumerate(self.widths):
      h = nn.Conv(f, (3, 3), use_bias=False, dtype=self.dtype, name=f"conv{i}")(h)
      h = nn.relu(nn.BatchNorm(use_running_average=not train, dtype=self.dtype, name=f"bn{i}")(h))
      h = layers.pool_2x2(h)  # nn.max_pool's function, without XLA:CPU's slow gradient
    h = jnp.mean(h, axis=(1, 2)).reshape(b, t, -1).astype(jnp.float32)
    # Mean over windows with any audio: silence-padded windows say nothing about the voice.
    weight = (valid.mean(-1) > 0).astype(jnp.float32)[..., None]
    h = jnp.sum(h * weight, 1) / jnp.maximum(jnp.sum(weight, 1), 1.0)
    h = nn.Dropout(self.dropout, deterministic=not train)(h)
    return nn.Dense(
        1, dtype=self.dtype, name="logit")(h.astype(self.dtype))[:, 0].astype(jnp.float32)


# Reads no frames: the sizes only shape the (unused) frames of the benchmark's examples.
register("audio_cnn",
         ModelSpec(AudioCNN, default_size=64, min_size=1, view="audio", explainer=None))
