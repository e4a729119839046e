"""Temporal, lip-sync and audio branches: shapes, the logit contract and input masking."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fakedetect_jax import models
from fakedetect_jax.train.step import prepare_inputs

B, T = 2, 3


def _inputs(seed=0):
  r = np.random.default_rng(seed)
  return {
      "frames": r.integers(0, 256, (B, T, 32, 32, 3), dtype=np.uint8),
      "mouth": r.integers(0, 256, (B, T, 24, 24), dtype=np.uint8),
      "audio": r.normal(size=(B, T, 20, 80)).astype(np.float32),
      "audio_valid": np.ones((B, T, 20), np.uint8),
      "has_audio": np.ones((B,), np.uint8),
      "face_found": np.ones((B, T), np.uint8),
      "eye_aspect_ratio": np.full((B, T), 0.3, np.float32)
  }


# Every video-level model of the registry; the full-width ResNeXt-LSTM is checked by shapes
# only (test_resnext_lstm_is_the_papers_size): its small variant runs the same code. The
# segments view's localizers give per-frame outputs, not a logit per clip
# (test_localization_model.py).
BRANCHES = [
    n for n, s in models.REGISTRY.items()
    if s.view not in ("frames", "segments") and n != "resnext_lstm"
]

# Narrow variants where the default is an image backbone of full width (TALL's EfficientNet-B0
# spends most of this test compiling; its thumbnails are tested in test_frequency_models.py).
NARROW = {"tall": dict(backbone_kwargs=dict(width=0.25, depth=0.3, stages=3))}


@pytest.mark.parametrize("name", BRANCHES)
def test_branch_gives_one_float32_logit_per_clip(name):
  assert models.REGISTRY[name].view in ("clips", "av", "audio")
  assert models.REGISTRY[name].explainer is None  # no frame heatmaps for a clip
  model = models.get_model(name, **NARROW.get(name, {}))
  x = prepare_inputs(_inputs())

  @jax.jit  # one compile for init and apply: op-by-op LSTM init is slow
  def run(x):
    return model.apply(model.init(jax.random.key(0), x, train=False), x, train=False)

  logits = run(x)
  assert logits.shape == (B,) and logits.dtype == jnp.float32
  assert np.all(np.isfinite(logits))


def test_resnext_lstm_is_the_papers_size():
  """ResNeXt-50 trunk (2048-d features) + LSTM of 2048 units: 23.0M + 33.6M parameters."""
  model = models.get_model("resnext_lstm")
  shapes = jax.eval_shape(lambda: model.init(
      jax.random.key(0), {"frames": jnp.zeros((1, 2, 64, 64, 3))}, train=False))["params"]
  lstm = sum(int(np.prod(a.shape)) for a in jax.tree.leaves(shapes["lstm"]))
  trunk = sum(int(np.prod(a.shape)) for a in jax.tree.leaves(shapes["trunk"]))
  assert trunk == 22_979_904 and lstm == 4 * (2048 + 2048 + 1) * 2048
  assert model.dropout == 0.4


def test_audio_outside_valid_windows_is_ignored():
  model = models.get_model("audio_cnn")
  x = _inputs()
  x["audio_valid"][:, 2:] = 0
  variables = jax.jit(lambda x: model.init(jax.random.key(0), x, train=False))(prepare_inputs(x))
  y = _inputs()
  y["audio_valid"] = x["audio_valid"]
  y["audio"][:, :2] = x["audio"][:, :2]  # same valid audio, different padding
  f = jax.jit(lambda x: model.apply(variables, prepare_inputs(x), train=False))
  np.testing.assert_allclose(f(x), f(y), rtol=1e-5, atol=1e-6)


def test_lipsync_reports_sync_score_offset_and_probability():
  model = models.get_model("lipsync", max_offset=1)
  x = prepare_inputs(_inputs())

  @jax.jit
  def run(x):
    variables = model.init(jax.random.key(0), x, train=False)
    return (model.apply(variables, x,
                        method="sync_logits"), model.apply(variables, x, method="report"))

  logits, r = run(x)
  assert logits.shape == (B, 3)
  assert set(r) == {"sync_score", "offset", "fake_prob"}
  assert np.all(np.abs(r["offset"]) <= 1) and np.all((r["fake_prob"] > 0) & (r["fake_prob"] < 1))
