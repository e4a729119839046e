"""Detectors on CLIP towers: Effort's SVD split and its losses, frozen parameters out of the
optimizer state and the gradient all-reduce, per-part learning rates, and the summary counts.

Tiny towers (width 32, 2 blocks, 8 px patches on 32 px images) keep every compile short.
"""
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from fakedetect_jax import config_lib, models
from fakedetect_jax.models import effort
from fakedetect_jax.models.__main__ import count, summary
from fakedetect_jax.train import state as state_lib
from fakedetect_jax.train.step import make_train_step

TINY = dict(width=32, depth=2, heads=4, patch=8, embed_dim=16)
SIZE = 32


def images(n=8, seed=0):
  return jax.random.uniform(jax.random.key(seed), (n, SIZE, SIZE, 3), minval=-1, maxval=1)


def clip_variables(seed=0, features="pooled"):
  model = models.get_model("clip_vit_b16", features=features, **TINY)
  return model, model.init(jax.random.key(seed), images(1))


def test_effort_at_its_split_equals_the_clip_tower():
  clip_model, v = clip_variables()
  e = models.get_model("effort", variant="b16", **TINY)
  ev = effort.from_clip(v)
  x = images()
  np.testing.assert_allclose(jax.jit(e.apply)(ev, x), jax.jit(clip_model.apply)(v, x), atol=1e-5)
  # The split's own parameters have the shapes of its definition: rank 1 residuals.
  q = ev["params"]["tower"]["encoder"]["blocks_0"]["attn"]["q_proj"]
  assert q["U_residual"].shape == (32, 1) and q["V_residual"].shape == (1, 32)
  assert np.linalg.matrix_rank(np.asarray(q["weight_main"], np.float64), tol=1e-4) == 31
  # Both regularisers are zero at the split (up to float32 rounding of a 32 x 32 product and of
  # the weight's energy).
  _, sown = jax.jit(lambda v, x: e.apply(v, x, train=True, mutable=["losses"]))(ev, x)
  q_losses = sown["losses"]["tower"]["encoder"]["blocks_0"]["attn"]["q_proj"]
  assert float(q_losses["orthogonality"][0]) < 1e-3
  energy = float(q["energy_start"])
  assert float(q_losses["singular_value"][0]) < 1e-5 * energy


def test_effort_regularisers_equal_their_definition_with_the_full_bases():
  rng = np.random.default_rng(0)
  w = rng.normal(size=(16, 16))
  split = effort.split_projection(w.T, np.zeros(16), rank=2)
  u_full, s_full, vh_full = np.linalg.svd(w)
  u_r, v_r = u_full[:, :14], vh_full[:14]
  u = split["U_residual"] + 0.1 * rng.normal(size=(16, 2))
  v = split["V_residual"] + 0.1 * rng.normal(size=(2, 16))
  s = split["S_residual"] * 1.3
  # Effort's release: 0.5 ||[U_r U][U_r U]^T - I||_F + 0.5 ||[V_r; V][V_r; V]^T - I||_F.
  uu = np.concatenate([u_r, u], 1)
  vv = np.concatenate([v_r, v], 0)
  want = 0.5 * np.linalg.norm(uu @ uu.T - np.eye(16)) + 0.5 * np.linalg.norm(vv @ vv.T - np.eye(16))
  got = effort.orthogonality(
      *(jnp.asarray(a, jnp.float32) for a in (u, v, split["U_start"], split["V_start"])))
  assert float(got) == pytest.approx(want, rel=1e-4)
  main = split["weight_main"].T
  current = main + (u * s) @ v
  got = effort.energy_of(*(jnp.asarray(a, jnp.float32) for a in (main.T, u, s, v)))
  assert float(got) == pytest.approx(np.sum(current**2), rel=1e-5)
  assert float(split["energy_start"]) == pytest.approx(np.sum(w**2), rel=1e-6)


def expected_effort_trainable(width, depth):
  # Per projection U [width, 1], S [1], V [1, width]; 4 projections a block; head on pooled.
  return 4 * depth * (width + 1 + width) + (width + 1)


def test_summary_counts_frozen_parts_in_the_total_only():
  lines = summary("effort", 224).splitlines()
  assert lines[-2].startswith("total_params: ") and lines[-1].startswith("trainable_params: ")
  assert int(lines[-1].split()[1]) == expected_effort_trainable(1024, 24)  # 197,729: ~0.19 M
  univfd = summary("univfd", 224).splitlines()
  assert univfd[-1] == "trainable_params: 769"  # the head on the 768-wide image embedding
  full = summary("clip_vit_l14", 224).splitlines()
  assert full[-1].split()[1] == full[-2].split()[1] == univfd[-2].split()[1]
  # A clips-view model (TALL: a 16-frame clip) has a summary too, with nothing frozen.
  tall = summary("tall", 64).splitlines()
  assert "16x64x64x3" in tall[0] and tall[-1].split()[1] == tall[-2].split()[1] != "0"


def all_reduced_elements(compiled):
  """Elements all-reduced by a compiled step (every operand of every all-reduce)."""
  total = 0
  for line in compiled.as_text().splitlines():
    m = re.search(r"=\s*(.*?)\s+all-reduce(-start)?\(", line)
    if not m:
      continue
    for dims in re.findall(r"[fsbu]\d+\[([\d,]*)\]", m.group(1)):
      total += int(np.prod([int(d) for d in dims.split(",") if d] or [1]))
  return total


def train_setup(name, lr_scale=None, optimizer="adam", **model_kwargs):
  config = config_lib.base_config()
  config.model.name = name
  config.augment.flip, config.augment.brightness = False, 0.0
  config.optimizer.name, config.optimizer.schedule = optimizer, "constant"
  config.optimizer.learning_rate = 1e-2
  if lr_scale:
    config.optimizer.lr_scale = lr_scale
  model = models.get_model(name, **TINY, **model_kwargs)
  mesh = state_lib.make_mesh()
  tx = state_lib.optimizer(config)
  rep = state_lib.replicated(mesh)
  state = jax.jit(lambda: state_lib.create_state(model, tx, SIZE, 0), out_shardings=rep)()
  labels = jnp.arange(8) % 2
  batch = jax.device_put(
      {
          "inputs": {
              "image": ((images() + 1) * 127.5).astype(jnp.uint8)
          },
          "labels": labels
      }, state_lib.batch_sharding(mesh))
  step = make_train_step(model, tx, config, mesh)
  return state, batch, step


def test_effort_trains_only_its_residuals_and_head_on_8_devices():
  assert jax.device_count() == 8
  state, batch, step = train_setup("effort", variant="b16")
  n_params = count(state.params)
  trainable = expected_effort_trainable(TINY["width"], TINY["depth"])
  # No Adam moments for frozen weights: mu and nu of the trainable part, and a step count.
  moments = [x for x in jax.tree.leaves(state.opt_state) if x.ndim > 0 or x.dtype != jnp.int32]
  assert sum(int(np.prod(x.shape)) for x in moments) == 2 * trainable
  compiled = step.lower(state, batch, jax.random.key(0)).compile()
  # The all-reduce carries the trainable gradients (and a few scalar metrics), not the tower.
  reduced = all_reduced_elements(compiled)
  assert trainable <= reduced < trainable + 16 < n_params
  before = jax.device_get(state.params)
  for _ in range(3):
    state, metrics = compiled(state, batch, jax.random.key(0))
  after = jax.device_get(state.params)
  flat_before = dict(jax.tree_util.tree_flatten_with_path(before)[0])
  for path, leaf in jax.tree_util.tree_flatten_with_path(after)[0]:
    name = "/".join(k.key for k in path)
    moved = not np.array_equal(leaf, flat_before[path])
    assert moved == bool(re.search(models.spec("effort").trainable, name)), name
  assert np.isfinite(float(metrics["loss_sum"]))


def test_full_fine_tuning_all_reduces_every_gradient_and_lr_scale_slows_the_tower():
  state, batch, step = train_setup(
      "clip_finetune", lr_scale={"^tower/": 0.1}, optimizer="sgd", variant="b16")
  compiled = step.lower(state, batch, jax.random.key(0)).compile()
  assert all_reduced_elements(compiled) >= count(state.params)
  # The same step without the scale: tower updates are 10x those with it, the head's equal.
  ref_state, _, ref_step = train_setup("clip_finetune", optimizer="sgd", variant="b16")
  start = jax.device_get(state.params)  # the steps donate their state
  new, _ = compiled(state, batch, jax.random.key(0))
  ref, _ = ref_step(ref_state, batch, jax.random.key(0))
  delta = lambda s, part: jax.tree.leaves(
      jax.tree.map(lambda a, b: np.asarray(a) - b, s.params[part], start[part]))
  for scaled, plain in zip(delta(new, "tower"), delta(ref, "tower")):
    np.testing.assert_allclose(scaled * 10, plain, rtol=1e-3, atol=2e-6)  # float32 deltas
  for scaled, plain in zip(delta(new, "head"), delta(ref, "head")):
    np.testing.assert_allclose(scaled, plain, rtol=1e-5, atol=1e-7)


def test_univfd_keeps_the_tower_and_trains_the_head():
  tx = state_lib.make_optimizer(config_lib.base_config().optimizer, 10, r"^head/")
  _, v = clip_variables(features="embedding")
  opt = tx.init(v["params"])
  assert count(opt) == 2 * count(v["params"]["head"]) + 2  # mu, nu and two step counts
  grads = jax.tree.map(jnp.ones_like, v["params"])
  updates, _ = tx.update(grads, opt, v["params"])
  assert set(updates) == {"head"}
  assert isinstance(optax.apply_updates(v["params"]["head"], updates["head"]), dict)


def test_effort_optimizer_state_is_under_two_percent_of_full_fine_tuning():
  # experiments/benchmarks/optimizer_state.py at full size (ViT-L/14), by shapes alone.
  import importlib.util
  import os
  from conftest import REPO
  path = os.path.join(REPO, "experiments", "benchmarks", "optimizer_state.py")
  spec = importlib.util.spec_from_file_location("optimizer_state", path)
  bench = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(bench)
  e, full = bench.abstract_state("effort"), bench.abstract_state("clip_finetune")
  assert e["trainable_params"] == expected_effort_trainable(1024, 24)
  # Adam's two float32 moments of the trainable parameters, plus step counters.
  assert 0 <= e["opt_state_bytes"] - 8 * e["trainable_params"] <= 64
  assert 0 <= full["opt_state_bytes"] - 8 * full["total_params"] <= 64
  assert e["opt_state_bytes"] < 0.02 * full["opt_state_bytes"]
