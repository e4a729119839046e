"""Objectives (train/objectives.py): each loss against its formula by hand, and the step using a
newly registered objective without any code of its own."""
import flax.linen as nn
import jax
import numpy as np
import pytest

from fakedetect_jax import config_lib, models
from fakedetect_jax.errors import ConfigError
from fakedetect_jax.train import objectives
from fakedetect_jax.train import state as state_lib
from fakedetect_jax.train.step import make_eval_step, make_train_step, prepare_inputs

B, S = 8, 4


class _Tiny(nn.Module):
  """Flatten -> batch norm -> one logit: small enough to compute by hand."""
  batch_norm: bool = True

  @nn.compact
  def __call__(self, x, train=False):
    h = x.reshape(x.shape[0], -1)
    if self.batch_norm:
      h = nn.BatchNorm(use_running_average=not train, use_scale=False, use_bias=False)(h)
    return nn.Dense(1)(h)[:, 0]


def _config(objective="classify", view="frames", grad_accum=1):
  c = config_lib.base_config()
  c.objective, c.data.view, c.grad_accum_steps = objective, view, grad_accum
  c.augment.flip, c.augment.brightness = False, 0.0  # the hand computations see the batch as is
  return c


def _frames(seed=0):
  r = np.random.default_rng(seed)
  return (r.integers(0, 256, (B, S, S, 3), dtype=np.uint8), np.array([0, 1] * (B // 2), np.int32))


def _hand_logits(variables, images, batch_norm):
  """The tiny model in numpy, batch norm over the batch (training mode)."""
  h = (images.astype(np.float64) / 127.5 - 1.0).reshape(len(images), -1)
  if batch_norm:
    h = (h - h.mean(0)) / np.sqrt(h.var(0) + 1e-5)
  p = jax.device_get(variables["params"])["Dense_0"]
  return (h @ np.asarray(p["kernel"], np.float64))[:, 0] + float(p["bias"][0])


def _setup(model, config, size=S, devices=None):
  mesh = state_lib.make_mesh(devices)
  tx = state_lib.make_optimizer(config.optimizer, 10)
  state = jax.device_put(state_lib.create_state(model, tx, size, 0), state_lib.replicated(mesh))
  variables = jax.device_get({"params": state.params, "batch_stats": state.batch_stats})
  return mesh, tx, state, variables


def test_classify_loss_is_sigmoid_cross_entropy():
  images, labels = _frames()
  model = _Tiny()
  config = _config()
  mesh, tx, state, variables = _setup(model, config)
  z = _hand_logits(variables, images, batch_norm=True)
  bce = -(labels * np.log(1 / (1 + np.exp(-z))) + (1 - labels) * np.log(1 - 1 / (1 + np.exp(-z))))

  # The objective itself: per-example losses, the number correct, the batch-norm update.
  x = objectives.model_input(prepare_inputs({"image": images}), "frames")
  losses, correct, batch_stats = objectives.get("classify").loss(model, variables, x, labels,
                                                                 jax.random.key(0))
  np.testing.assert_allclose(losses, bce, rtol=1e-5, atol=1e-6)
  assert int(correct) == int(np.sum((z > 0) == (labels > 0)))
  h = (images / 127.5 - 1.0).reshape(B, -1)
  np.testing.assert_allclose(
      batch_stats["BatchNorm_0"]["mean"], 0.01 * h.mean(0), rtol=1e-4, atol=1e-6)

  # Eval scores are sigmoid of the (running-average) logits, one float32 per row.
  scores = make_eval_step(model, config, mesh)(state, {"image": images})
  ref = model.apply(variables, prepare_inputs(images), train=False)
  assert scores.shape == (B,) and scores.dtype == np.float32
  np.testing.assert_allclose(scores, jax.nn.sigmoid(ref), rtol=1e-5, atol=1e-6)

  # Through the step, on the 8-device mesh: the loss metric is their mean (before the update;
  # last, as the step donates the state).
  step = make_train_step(model, tx, config, mesh)
  new_state, m = step(state, {"inputs": {"image": images}, "labels": labels}, jax.random.key(0))
  assert float(m["loss_sum"]) == pytest.approx(bce.mean(), rel=1e-5)
  assert float(m["correct"]) == int(correct) and float(m["count"]) == B
  assert float(m["nonfinite"]) == 0 and int(new_state.step) == 1


def _av_inputs(seed=0, t=3):
  r = np.random.default_rng(seed)
  return {
      "frames": r.integers(0, 256, (B, t, 16, 16, 3), dtype=np.uint8),
      "mouth": r.integers(0, 256, (B, t, 24, 24), dtype=np.uint8),
      "audio": r.normal(size=(B, t, 20, 80)).astype(np.float32),
      "audio_valid": np.ones((B, t, 20), np.uint8),
      "has_audio": np.ones((B,), np.uint8),
      "face_found": np.ones((B, t), np.uint8)
  }


def test_sync_loss_is_softmax_cross_entropy_against_the_centre_offset():
  model = models.get_model("lipsync", max_offset=1)
  config = _config("sync", view="av")
  inputs, labels = _av_inputs(), np.array([0, 1] * (B // 2), np.int32)
  mesh = state_lib.make_mesh()
  tx = state_lib.make_optimizer(config.optimizer, 10)
  example = jax.tree.map(lambda a: a[:1], prepare_inputs(inputs))
  state = jax.jit(
      lambda: state_lib.create_state(model, tx, 16, 0, example),
      out_shardings=state_lib.replicated(mesh))()
  variables = jax.device_get({"params": state.params, "batch_stats": state.batch_stats})

  @jax.jit
  def hand(x):
    logits, _ = model.apply(variables, x, train=True, mutable=["batch_stats"], method="sync_logits")
    return logits, model.apply(variables, x, train=False, method="sync_logits")

  logits, eval_logits = map(np.asarray, hand(prepare_inputs(inputs)))
  assert logits.shape == (B, 3)
  lse = np.log(np.sum(np.exp(logits), -1))
  ce = lse - logits[:, 1]  # offset 0 is the centre of -1, 0, 1

  scores = make_eval_step(model, config, mesh)(state, inputs)
  p = np.exp(eval_logits - eval_logits.max(-1, keepdims=True))
  np.testing.assert_allclose(scores, 1 - p[:, 1] / p.sum(-1), rtol=1e-4, atol=1e-6)

  step = make_train_step(model, tx, config, mesh)
  _, m = step(state, {"inputs": inputs, "labels": labels}, jax.random.key(0))
  assert float(m["loss_sum"]) == pytest.approx(ce.mean(), rel=1e-4)
  assert float(m["correct"]) == np.sum(np.argmax(logits, -1) == 1)


@pytest.fixture
def weighted_squared_error():
  """A throwaway objective: weighted squared error on the sigmoid, with an extra batch key, and
  a two-column score."""

  def loss(model, variables, inputs, labels, rng, weights):
    logits, batch_stats, _ = objectives.apply_train(model, variables, inputs, rng)
    p = jax.nn.sigmoid(logits)
    return weights * (p - labels)**2, jax.numpy.sum((p > 0.5) == (labels > 0)), batch_stats

  def score(model, variables, inputs):
    p = jax.nn.sigmoid(model.apply(variables, inputs, train=False))
    return jax.numpy.stack([p, 1 - p], -1)

  objectives.register("weighted_sq", objectives.Objective(loss, score, extra_keys=("weights",)))
  yield "weighted_sq"
  del objectives.OBJECTIVES["weighted_sq"]


@pytest.mark.parametrize("grad_accum", [1, 2])
def test_a_registered_objective_is_used_by_the_step(weighted_squared_error, grad_accum):
  images, labels = _frames(1)
  weights = np.linspace(0.5, 2.0, B).astype(np.float32)
  model = _Tiny(batch_norm=False)
  config = _config(weighted_squared_error, grad_accum=grad_accum)
  mesh, tx, state, variables = _setup(model, config)
  p = 1 / (1 + np.exp(-_hand_logits(variables, images, batch_norm=False)))
  expected = np.mean(weights * (p - labels)**2)  # micro-batches of equal size: the same mean

  scores = make_eval_step(model, config, mesh)(state, {"image": images})
  assert scores.shape == (B, 2)
  np.testing.assert_allclose(scores[:, 0], p, rtol=1e-5, atol=1e-6)

  step = make_train_step(model, tx, config, mesh)
  with pytest.raises(ConfigError, match="weights"):
    step(state, {"inputs": {"image": images}, "labels": labels}, jax.random.key(0))
  _, m = step(state, {
      "inputs": {
          "image": images
      },
      "labels": labels,
      "weights": weights
  }, jax.random.key(0))
  assert float(m["loss_sum"]) == pytest.approx(expected, rel=1e-5)
  assert float(m["correct"]) == np.sum((p > 0.5) == (labels > 0))


def test_unknown_objective_names_the_known_ones():
  with pytest.raises(ConfigError) as e:
    objectives.get("nope")
  assert "'nope'" in str(e.value) and "classify" in str(e.value) and "sync" in str(e.value)
  mesh = state_lib.make_mesh()
  tx = state_lib.make_optimizer(config_lib.base_config().optimizer, 10)
  for make in (lambda c: make_train_step(_Tiny(), tx, c, mesh),
               lambda c: make_eval_step(_Tiny(), c, mesh)):
    with pytest.raises(ConfigError, match="known objectives: .*classify.*sync"):
      make(_config("nope"))


def test_frame_models_take_the_image_and_video_models_the_dict():
  inputs = {"image": np.zeros((2, 4, 4, 3), np.uint8)}
  assert objectives.model_input(inputs, "frames") is inputs["image"]
  for view in ("clips", "av", "audio"):
    assert objectives.model_input(inputs, view) is inputs
