"""Today's detectors train: 20 steps of each (tiny variants of the same code) on the embedded
dataset's `tiny` frames, through the one train step on the 8 simulated devices, lower the loss
and beat chance on the test split (unseen identities; real against blended faces, the fakes a
single frame can show). Without CLIP weights the CLIP-based detectors start from a random
tower: univfd's linear probe on random features and Effort's rank-1 residuals must still learn.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import test_zoo_lib
from fakedetect_jax import config_lib, explain, input as input_lib, models
from fakedetect_jax.train import state as state_lib
from fakedetect_jax.train.step import make_eval_step, make_train_step

CLIP_TINY = dict(variant="b16", width=32, depth=2, heads=4, patch=8)
MODELS = {  # name: (tiny kwargs, learning rate)
    "univfd": (dict(CLIP_TINY, embed_dim=64), 1e-2),
    "clip_finetune": (dict(CLIP_TINY, embed_dim=16), 1e-3),
    "effort": (CLIP_TINY, 1e-2),
    "spsl": (test_zoo_lib.TINY["spsl"], 3e-3),
    "srm": (dict(width=1 / 32, middle_blocks=1), 3e-3),
    "f3net": (dict(width=1 / 16, middle_blocks=1), 1e-3),
}
STEPS, BATCH, SIZE = 20, 16, 32
# Real faces against blended ones, with their own or a swapped voice: the label is the video's
# (data.label_key 'video_label': a swapped voice alone is a real face).
METHODS = ("real", "voice", "blend", "blend-voice")


def _rows(data_dir, view, key):
  """{split: (uint8 inputs[key], labels)}: real and blended faces of `tiny` in `view`."""
  out = {}
  for split in ("train", "test"):
    c = config_lib.base_config().data
    c.dataset, c.config, c.data_dir, c.image_size = "synthetic_av", "tiny", data_dir, SIZE
    c.view, c.clip_len, c.label_key = view, 4, "video_label"
    source = input_lib.load_split(c, split, methods=METHODS)
    rows = [source[i] for i in range(len(source))]
    out[split] = (np.stack([r["inputs"][key] for r in rows]),
                  np.array([r["label"] for r in rows], np.int32))
  return out


@pytest.fixture(scope="module")
def frames(synthetic_tiny):
  return _rows(synthetic_tiny[1], "frames", "image")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_twenty_steps_lower_the_loss_and_beat_chance(frames, name):
  kwargs, lr = MODELS[name]
  model = models.get_model(name, dropout=0.0, **kwargs)
  state = _train_and_test(model, name, lr, frames, "frames", "image")
  if models.spec(name).explainer == "rollout":
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    images = frames["test"][0][:2]
    heat = explain.attention_rollout(model, jax.device_get(variables), images)
    assert heat.shape == (2, SIZE, SIZE) and np.isfinite(heat).all()


def test_tall_on_thumbnails_of_four_frames(synthetic_tiny):
  clips = _rows(synthetic_tiny[1], "clips", "frames")
  assert clips["train"][0].shape[1:] == (4, SIZE, SIZE, 3)  # one thumbnail a clip
  backbone = dict(width=0.25, depth=0.3, stages=3, drop_connect=0.0)
  model = models.get_model("tall", backbone="efficientnet_b0", backbone_kwargs=backbone)
  _train_and_test(model, "tall", 3e-3, clips, "clips", "frames")


def _train_and_test(model, name, lr, arrays, view, key):
  """20 steps on arrays['train'], then the test split's AUC; returns the trained state."""
  config = config_lib.base_config()
  config.model.name, config.data.view = name, view
  config.augment.flip, config.augment.brightness = False, 0.0
  config.optimizer.learning_rate, config.optimizer.schedule = lr, "constant"
  mesh = state_lib.make_mesh()
  tx = state_lib.optimizer(config)
  rep, data = state_lib.replicated(mesh), state_lib.batch_sharding(mesh)
  images, labels = arrays["train"]
  example = None if view == "frames" else {key: images[:1]}
  with jax.threefry_partitionable(False):
    state = test_zoo_lib.compiled(
        jax.jit(lambda: state_lib.create_state(model, tx, SIZE, 0, example), out_shardings=rep))()
  rng = np.random.default_rng(0)
  order = [rng.permutation(len(labels)) for _ in range(STEPS * BATCH // len(labels) + 1)]
  order = np.concatenate(order)[:STEPS * BATCH].reshape(STEPS, BATCH)
  put = lambda rows: jax.device_put({"inputs": {key: images[rows]}, "labels": labels[rows]}, data)
  step = test_zoo_lib.compiled(
      make_train_step(model, tx, config, mesh), state, put(order[0]), jax.random.key(0))
  losses = []
  for rows in order:
    state, m = step(state, put(rows), jax.random.key(0))
    losses.append(float(m["loss_sum"]))  # also bounds the steps in flight
  assert np.isfinite(losses).all()
  assert np.mean(losses[-5:]) < np.mean(losses[:5]), losses
  test_inputs, test_labels = arrays["test"]
  n = len(test_labels)
  padded = np.resize(test_inputs, (-(-n // 8) * 8,) + test_inputs.shape[1:])  # 8 devices
  score = make_eval_step(model, config, mesh)
  scores = np.asarray(score(state, jax.device_put({key: padded}, data)))[:n]
  assert roc_auc_score(test_labels, scores) > 0.5
  return state
