"""Temporal forgery localization: the 'localizer' model (models/localization.py), its objective
'localize' (train/localize.py) and the proposals decoded from its frames
(evaluate.localization.proposals_from_frames)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from fakedetect_jax import config_lib, models
from fakedetect_jax.evaluate import localization
from fakedetect_jax.train import localize, objectives
from fakedetect_jax.train import state as state_lib
from fakedetect_jax.train.step import make_eval_step, make_train_step, prepare_inputs

W = 4  # mel slots per frame (25 fps)
# Compiling is most of what these tests spend (test_zoo_lib.FAST_COMPILE), init most of all: one
# tiny model, initialised once (its parameters do not depend on the window or crop sizes).
FAST_COMPILE = {"xla_backend_optimization_level": 0}
TINY = dict(width=32, frame_width=16, dilations=(1, 4))


def _compiled(fn, *args):
  return jax.jit(fn).lower(*args).compile(compiler_options=FAST_COMPILE)


def _inputs(b, length, size, rng, mouth=16):
  """One batch of the segments view as the source gives it (uint8 pixels, bool masks)."""
  return {
      "frames": rng.integers(0, 256, (b, length, size, size, 3), dtype=np.uint8),
      "mouth": rng.integers(0, 256, (b, length, mouth, mouth), dtype=np.uint8),
      "audio": rng.normal(size=(b, length, W, 80)).astype(np.float32),
      "audio_valid": np.ones((b, length, W), bool),
      "has_audio": np.ones((b,), bool),
      "face_found": np.ones((b, length), bool),
      "frame_valid": np.ones((b, length), bool),
  }


@pytest.fixture(scope="module")
def tiny():
  """(the tiny localizer, its variables)."""
  model = models.get_model("localizer", **TINY)
  x = prepare_inputs(_inputs(1, 4, 16, np.random.default_rng(0)))
  return model, _compiled(lambda x: model.init(jax.random.key(0), x, train=False), x)(x)


def test_the_registry_knows_the_localizer():
  spec = models.REGISTRY["localizer"]
  assert spec.view == "segments" and spec.explainer is None
  assert "segments" in models.VIEWS
  from fakedetect_jax.input import views
  assert "segments" in views.VIEWS
  assert objectives.get("localize").extra_keys == ("frame_labels",)


def test_outputs_and_scores_ignore_what_padding_frames_hold(tiny):
  rng = np.random.default_rng(0)
  b, length, valid = 2, 8, 5
  x = _inputs(b, length, 16, rng)
  x["frame_valid"][:, valid:] = False
  y = _inputs(b, length, 16, rng)  # other content on the padding frames only
  for k in ("frames", "mouth", "audio"):
    y[k][:, :valid] = x[k][:, :valid]
  y["frame_valid"] = x["frame_valid"]
  model, variables = tiny
  score = objectives.get("localize").score

  def run(v, x, y):
    x, y = prepare_inputs(x), prepare_inputs(y)
    both = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), x, y)  # rows are independent
    out = model.apply(v, both, train=False)
    return out[:b], out[b:], score(model, v, x)

  out_x, out_y, s = _compiled(run, variables, x, y)(variables, x, y)
  assert out_x.shape == (b, length, 5) and out_x.dtype == jnp.float32
  assert s.shape == (b, length, 5) and s.dtype == jnp.float32
  np.testing.assert_allclose(out_x[:, :valid], out_y[:, :valid], rtol=1e-5, atol=1e-5)
  assert np.all((s[..., :3] >= 0) & (s[..., :3] <= 1)) and np.all(s[..., 3:] >= 0)
  assert np.all(s[:, valid:, :3] == 0)  # no fake probability on padding
  p = jax.nn.sigmoid(out_x[..., :3]) * x["frame_valid"][..., None]
  np.testing.assert_allclose(s[..., :3], p, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(s[..., 3:], model.dist_scale * np.exp(out_x[..., 3:]), rtol=1e-4)


def test_distance_targets_by_hand():
  labels = np.array([
      [1, 1, 0, 0, 1, 1, 1, 0, 1],  # runs at both edges of the window
      [0, 0, 0, 0, 0, 0, 0, 0, 0],
      [1, 1, 1, 1, 1, 1, 1, 1, 1],  # one run cut by both edges
      [0, 1, 0, 1, 1, 0, 0, 0, 0],
  ])
  start = [[0, 1, 0, 0, 0, 1, 2, 0, 0], [0] * 9, list(range(9)), [0, 0, 0, 0, 1, 0, 0, 0, 0]]
  end = [[1, 0, 0, 0, 2, 1, 0, 0, 0], [0] * 9, list(range(8, -1, -1)), [0, 0, 0, 1, 0, 0, 0, 0, 0]]
  d = np.asarray(localize.distance_targets(jnp.asarray(labels)))
  assert d.shape == (4, 9, 2) and d.dtype == np.float32
  np.testing.assert_array_equal(d[..., 0], start)
  np.testing.assert_array_equal(d[..., 1], end)
  # The DIoU loss is 0 at the target and grows with the miss.
  t = jnp.array([[3.0, 5.0]])
  assert float(localize.diou_loss(t, t)[0]) == 0.0
  assert 0 < float(localize.diou_loss(t + 1, t)[0]) < float(localize.diou_loss(t + 4, t)[0])


def test_proposals_from_ideal_frames_recover_the_segment():
  fps, length, (s, e) = 25.0, 60, (12, 29)  # fake frames 12..29: [0.48 s, 1.2 s)
  out = np.zeros((length, 5))
  t = np.arange(s, e + 1)
  out[t, 0] = 1.0
  out[t, 3], out[t, 4] = t - s, e - t
  out[:, 1] = out[:, 0]
  rows = localization.proposals_from_frames(out, fps)
  assert rows.shape[1] == 3 and np.all(np.diff(rows[:, 0]) <= 0)
  score, start, end = rows[0]
  assert score == 1.0
  assert abs(start - s / fps) <= 1 / fps and abs(end - (e + 1) / fps) <= 1 / fps
  assert localization.proposals_from_frames(np.zeros((length, 5)), fps).shape == (0, 3)


def _synthetic(b, length, size, rng):
  """Windows where the fake frames (one run in 3 of 4 rows) carry a bright square on the face."""
  x = _inputs(b, length, size, rng)
  x["frames"] = (x["frames"] // 2).astype(np.uint8)
  frame_labels = np.zeros((b, length, 3), np.int32)
  runs = []
  for i in range(b):
    if rng.random() < 0.25:
      runs.append(None)
      continue
    n = int(rng.integers(4, 17))
    s = int(rng.integers(-2, length - n + 3))  # some runs cut by the window's edges
    s, e = max(s, 0), min(s + n, length) - 1
    frame_labels[i, s:e + 1, :2] = 1  # a visual fake
    x["frames"][i, s:e + 1, size // 4:3 * size // 4, size // 4:3 * size // 4] += 120
    runs.append((s, e))
  labels = (frame_labels[..., 0].max(1) > 0).astype(np.int32)
  return {"inputs": x, "labels": labels, "frame_labels": frame_labels}, runs


def _iou(a, b):
  inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
  return inter / ((a[1] - a[0]) + (b[1] - b[0]) - inter)


STEPS = 75


def test_localizer_learns_where_the_fake_frames_are(tiny):
  b, length, size = 8, 32, 16
  config = config_lib.base_config()
  config.model.name, config.objective = "localizer", "localize"
  config.data.view, config.data.image_size = "segments", size
  config.augment.flip, config.augment.brightness = False, 0.0
  config.optimizer.learning_rate, config.optimizer.schedule = 3e-3, "constant"
  model, variables = tiny
  mesh = state_lib.make_mesh(jax.devices()[:1])
  tx = state_lib.make_optimizer(config.optimizer, 1000)
  state = state_lib.TrainState(
      step=jnp.array(0, jnp.int32),
      params=variables["params"],
      batch_stats=variables["batch_stats"],
      opt_state=_compiled(tx.init, variables["params"])(variables["params"]))
  rng = np.random.default_rng(0)
  batch, _ = _synthetic(b, length, size, rng)
  key = jax.random.key(0)
  step = make_train_step(model, tx, config, mesh).lower(state, batch,
                                                        key).compile(compiler_options=FAST_COMPILE)
  for _ in range(STEPS):
    state, metrics = step(state, _synthetic(b, length, size, rng)[0], key)
  assert float(metrics["nonfinite"]) == 0

  test, runs = _synthetic(32, length, size, np.random.default_rng(1))
  evaluate = make_eval_step(model, config, mesh).lower(state, test["inputs"])
  out = np.asarray(evaluate.compile(compiler_options=FAST_COMPILE)(state, test["inputs"]))
  truth = test["frame_labels"][..., 0].reshape(-1)
  assert roc_auc_score(truth, out[..., 0].reshape(-1)) > 0.9
  hits = []
  for i, run in enumerate(runs):
    if run is not None:
      rows = localization.proposals_from_frames(out[i], fps=1.0)  # in frames
      hits.append(len(rows) > 0 and _iou(rows[0, 1:], (run[0], run[1] + 1)) >= 0.5)
  assert np.mean(hits) >= 0.7, hits
