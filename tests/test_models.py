"""Model zoo: parameter counts against Keras, and each model can overfit a tiny batch."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import frames_fixture
from fakedetect_jax import config_lib, models
from fakedetect_jax.train import state as state_lib
from fakedetect_jax.train.step import make_eval_step, make_train_step


def _keras_meso(inception, size=256):
  """The authors' Keras MesoNet, layer for layer (the independent parameter-count reference)."""
  from tensorflow import keras
  L = keras.layers
  x = inp = keras.Input((size, size, 3))

  def incept(x, a, b, c, d):
    x1 = L.Conv2D(a, 1, padding="same", activation="relu")(x)
    x2 = L.Conv2D(b, 1, padding="same", activation="relu")(x)
    x2 = L.Conv2D(b, 3, padding="same", activation="relu")(x2)
    x3 = L.Conv2D(c, 1, padding="same", activation="relu")(x)
    x3 = L.Conv2D(c, 3, dilation_rate=2, padding="same", activation="relu")(x3)
    x4 = L.Conv2D(d, 1, padding="same", activation="relu")(x)
    x4 = L.Conv2D(d, 3, dilation_rate=3, padding="same", activation="relu")(x4)
    return L.Concatenate()([x1, x2, x3, x4])

  blocks = [(8, 3, 2), (8, 5, 2), (16, 5, 2), (16, 5, 4)]
  for i, (f, k, p) in enumerate(blocks):
    if inception and i < 2:
      x = incept(x, *((1, 4, 4, 2) if i == 0 else (2, 4, 4, 2)))
    else:
      x = L.Conv2D(f, k, padding="same", activation="relu")(x)
    x = L.BatchNormalization()(x)
    x = L.MaxPooling2D(p, padding="same")(x)
  x = L.Flatten()(x)
  x = L.Dropout(0.5)(x)
  x = L.LeakyReLU(0.1)(L.Dense(16)(x))
  x = L.Dropout(0.5)(x)
  out = L.Dense(1, activation="sigmoid")(x)
  model = keras.Model(inp, out)
  return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _count(model, size):
  v = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, size, size, 3))))
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(v["params"]))


@pytest.mark.parametrize("name,inception", [("meso4", False), ("mesoinception4", True)])
def test_parameter_count_equals_keras(name, inception):
  expected = _keras_meso(inception)
  assert _count(models.get_model(name), 256) == expected
  if name == "meso4":
    assert expected == 27977  # the figure of the MesoNet paper's Keras model


def test_unknown_model_names_the_registered_ones():
  with pytest.raises(ValueError, match="unknown model 'mesonet9'.*meso4"):
    models.get_model("mesonet9")


# The zoo's big models train as reduced-width variants in tests/test_zoo_models.py.
@pytest.mark.parametrize("name", ["meso4", "mesoinception4"])
def test_each_model_overfits_a_tiny_batch(name):
  rng = np.random.default_rng(0)
  images = np.concatenate([frames_fixture.face_frames(8, 64, fake, rng) for fake in (0, 1)])
  labels = np.repeat([0, 1], 8).astype(np.int32)
  config = config_lib.base_config()
  config.model.dropout = 0.0
  config.augment.flip, config.augment.brightness = False, 0.0
  mesh = state_lib.make_mesh(jax.devices()[:1])  # the 8-device path has its own test
  model = models.get_model(name, dropout=0.0)
  tx = state_lib.make_optimizer(config.optimizer, 1000)
  state = jax.device_put(state_lib.create_state(model, tx, 64, 0), state_lib.replicated(mesh))
  step = make_train_step(model, tx, config, mesh)
  batch = {"inputs": {"image": images}, "labels": labels}
  key = jax.random.key(0)
  for _ in range(100):
    state, metrics = step(state, batch, key)
    jax.block_until_ready(metrics)  # simulated devices deadlock with too many steps queued
  probs = np.asarray(make_eval_step(model, config, mesh)(state, {"image": images}))
  assert roc_auc_score(labels, probs) == 1.0
  assert float(metrics["loss_sum"]) < 0.3
