"""Explanations: Grad-CAM finds the evidence a toy CNN was trained on, attention rollout equals
the hand computation, and both run on the zoo's models and draw PNG overlays."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from PIL import Image

import test_zoo_lib
from fakedetect_jax import explain
from fakedetect_jax.models.layers import Head, cam_tap


class ToyCNN(nn.Module):
  """Two convs, the Grad-CAM tap, the zoo's pooled one-logit head."""

  @nn.compact
  def __call__(self, x, train=False):
    x = nn.relu(nn.Conv(16, (3, 3))(x))
    x = nn.relu(nn.Conv(16, (3, 3))(x))
    return Head()(cam_tap(self, x), train)


def _texture_data(n, size=32, box=8, seed=0):
  """Noise images; fakes carry a checkerboard box at a random place (returned as masks)."""
  rng = np.random.default_rng(seed)
  images = rng.uniform(-0.5, 0.5, (n, size, size, 3)).astype(np.float32)
  labels, masks = np.arange(n) % 2, np.zeros((n, size, size), bool)
  checker = np.indices((box, box)).sum(0) % 2 * 1.6 - 0.8
  for i in np.flatnonzero(labels):
    y, x = rng.integers(0, size - box, 2)
    images[i, y:y + box, x:x + box] = checker[..., None]
    masks[i, y:y + box, x:x + box] = True
  return images, labels.astype(np.float32), masks


def test_grad_cam_highlights_the_evidence_the_model_learned():
  images, labels, masks = _texture_data(32)
  model = ToyCNN()
  params = test_zoo_lib.init(model, 32)["params"]
  tx = optax.adam(1e-2)
  opt = tx.init(params)

  def step(params, opt):
    loss = lambda p: optax.sigmoid_binary_cross_entropy(model.apply({"params": p}, images), labels
                                                       ).mean()
    value, grads = jax.value_and_grad(loss)(params)
    updates, opt = tx.update(grads, opt)
    return optax.apply_updates(params, updates), opt, value

  step = test_zoo_lib.compiled(jax.jit(step), params, opt)
  for _ in range(80):
    params, opt, loss = step(params, opt)
  assert float(loss) < 0.1
  test_images, _, test_masks = _texture_data(16, seed=1)
  heat, logits = explain.grad_cam(model, {"params": params}, test_images, return_logits=True)
  assert heat.shape == (16, 32, 32) and 0 <= heat.min() and heat.max() <= 1
  fakes = np.flatnonzero(test_masks.any(axis=(1, 2)))
  assert (logits[fakes] > 0).all()
  for i in fakes:  # evidence at a different place in every image
    assert heat[i][test_masks[i]].mean() > 10 * heat[i][~test_masks[i]].mean()


def test_rollout_equals_the_hand_computation_for_one_layer():
  model, size = test_zoo_lib.tiny_model("vit_s16", depth=1)
  x = np.random.default_rng(0).uniform(-1, 1, (2, size, size, 3)).astype(np.float32)
  v = test_zoo_lib.init(model, size)
  heat = explain.attention_rollout(model, v, x)
  _, state = model.apply(v, x, mutable=["intermediates"])
  a = state["intermediates"]["encoder"]["blocks_0"]["attn"]["attention"][0].mean(axis=1)
  a = (a + jnp.eye(a.shape[-1])) / (a + jnp.eye(a.shape[-1])).sum(-1, keepdims=True)
  assert heat.shape == (2, size, size)
  # 32 px with 8 px patches: a 4x4 grid; the map is the class row, resized and scaled to max 1.
  flow = np.asarray(a[:, 0, 1:]).reshape(2, 4, 4)
  expected = explain.gradcam.normalize_maps(jnp.asarray(flow), size)
  np.testing.assert_allclose(heat, expected, atol=1e-5)


def test_cross_efficient_vit_rolls_out_each_branch_on_its_own():
  """Shapes only (jax.eval_shape): the two branches' self-attention chains, not the cross."""
  model, size = test_zoo_lib.tiny_model("cross_efficient_vit", depth=2, lg_depth=2)
  x = jnp.zeros((2, size, size, 3))
  v = jax.eval_shape(lambda: model.init(jax.random.key(0), x[:1]))
  _, state = jax.eval_shape(lambda v: model.apply(v, x, mutable=["intermediates"]), v)
  branches = explain.rollout._attention_layers(state["intermediates"])
  assert {k: len(a) for k, a in branches.items()} == {"sm_enc": 2, "lg_enc": 4}
  maps, logits = jax.eval_shape(lambda v: explain.rollout.rollout_maps(model, v, x), v)
  assert maps.shape == (2, size, size) and logits.shape == (2,)


def test_explainers_run_on_a_zoo_model_and_draw_overlays(tmp_path):
  images, _ = test_zoo_lib.faces(32, n_per_class=1)
  model, size = test_zoo_lib.tiny_model("conv_vit")  # a CNN stem (Grad-CAM) and a transformer
  v = test_zoo_lib.init(model, size)
  drawn = []
  for name, heat in (("rollout", explain.heatmaps("conv_vit", model, v,
                                                  images)), ("gradcam",
                                                             explain.grad_cam(model, v, images))):
    assert heat.shape == (2, size, size) and np.isfinite(heat).all()
    assert heat.min() >= 0 and np.isclose(heat.max(), 1)
    drawn += explain.save_overlays(images, heat, tmp_path, prefix=name, scores=[0.1, 0.9])
  assert len(drawn) == 4 and drawn[-1].endswith("gradcam_001_p0.90.png")
  png = np.asarray(Image.open(drawn[0]))
  assert png.shape == (32, 32, 3) and png.dtype == np.uint8
  # Where the heat is 0 the face shows through, tinted blue (jet's low end).
  mixed = explain.overlay(images[0], np.zeros((8, 8)))
  assert np.abs(mixed.astype(int) - (0.55 * images[0] + 0.45 * np.array([0, 0, 127.5]))).max() <= 1
