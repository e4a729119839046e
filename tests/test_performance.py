"""Speed options keep results: the same function and gradients as the layers they replace, the
same loss curve with and without them, and the persistent compilation cache gives back the same
program (docs/performance.md)."""
import functools
import os
import subprocess
import sys
import textwrap

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import frames_fixture
from conftest import REPO
from fakedetect_jax import config_lib, models, perf
from fakedetect_jax.models import conv, layers, meso, norm_pool


@pytest.mark.parametrize("shape", [(2, 8, 8, 3), (2, 7, 9, 3), (1, 25, 13, 2)])
@pytest.mark.parametrize("k", [2, 3, 4])
def test_max_pool_same_is_nn_max_pool(shape, k):
  x = jnp.asarray(np.random.default_rng(0).normal(size=shape), jnp.float32)
  native = lambda x: nn.max_pool(x, (k, k), strides=(k, k), padding="SAME")
  np.testing.assert_array_equal(layers.max_pool_same(x, k), native(x))
  loss = lambda f: lambda x: jnp.sum(f(x)**2)
  np.testing.assert_array_equal(
      jax.grad(loss(lambda x: layers.max_pool_same(x, k)))(x),
      jax.grad(loss(native))(x))


@pytest.mark.parametrize("dilation", [1, 2])
def test_chunked_kernel_gradient_conv_is_nn_conv(dilation):
  """conv.Conv is nn.Conv (SAME, stride 1): variables, outputs, and gradients with the kernel
  gradient summed over batch chunks (32 examples per device here: two chunks of 16)."""
  batch = 32 * jax.device_count()
  assert conv.kernel_grad_chunks(batch) == 2  # the chunked path is the one under test
  assert conv.kernel_grad_chunks(16 * jax.device_count()) == 1
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(batch, 6, 6, 3)), jnp.float32)
  fast = conv.Conv(4, 3, dilation)
  native = nn.Conv(4, (3, 3), kernel_dilation=dilation, padding="SAME")
  v = jax.tree.map(lambda t: t + 0.1, native.init(jax.random.key(0), x))
  assert jax.tree.structure(fast.init(jax.random.key(0), x)) == jax.tree.structure(v)
  np.testing.assert_array_equal(
      fast.init(jax.random.key(0), x)["params"]["kernel"],
      native.init(jax.random.key(0), x)["params"]["kernel"])
  np.testing.assert_allclose(fast.apply(v, x), native.apply(v, x), rtol=1e-6, atol=1e-6)
  w = jnp.asarray(rng.normal(size=(batch, 6, 6, 4)), jnp.float32)
  grad = lambda m: jax.grad(lambda v, x: jnp.sum(jnp.tanh(m.apply(v, x)) * w), (0, 1))(v, x)
  for a, b in zip(jax.tree.leaves(grad(fast)), jax.tree.leaves(grad(native))):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@functools.lru_cache(maxsize=None)
def _fast_losses(name, dtype="float32"):
  return _losses(name, dtype=dtype)


@pytest.mark.parametrize("strides,use_bias,size", [(1, False, 6), (2, False, 7), (2, True, 6)])
def test_conv1x1_is_nn_conv(strides, use_bias, size):
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, size, size, 5)), jnp.float32)
  fast = layers.Conv1x1(4, strides=strides, use_bias=use_bias)
  native = nn.Conv(4, (1, 1), strides=(strides, strides), padding="SAME", use_bias=use_bias)
  v = native.init(jax.random.key(0), x)
  assert jax.tree.structure(fast.init(jax.random.key(0), x)) == jax.tree.structure(v)
  np.testing.assert_allclose(fast.apply(v, x), native.apply(v, x), rtol=1e-5, atol=1e-6)
  w = jnp.asarray(np.random.default_rng(1).normal(size=native.apply(v, x).shape), jnp.float32)
  grad = lambda m: jax.grad(lambda v, x: jnp.sum(jnp.tanh(m.apply(v, x)) * w), (0, 1))(v, x)
  for a, b in zip(jax.tree.leaves(grad(fast)), jax.tree.leaves(grad(native))):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_batch_norm_is_nn_batch_norm():
  x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 6, 6, 5)) * 3 + 1, jnp.float32)
  w = jnp.asarray(np.random.default_rng(1).normal(size=x.shape), jnp.float32)
  for train in (True, False):
    kw = dict(use_running_average=not train, momentum=0.99, epsilon=1e-3)
    native, fast = nn.BatchNorm(**kw), layers.BatchNorm(**kw)
    v = jax.tree.map(lambda t: t + 0.3, native.init(jax.random.key(0), x))
    assert jax.tree.structure(fast.init(jax.random.key(0), x)) == jax.tree.structure(v)
    run = lambda m: lambda v, x: m.apply(v, x, mutable=["batch_stats"])
    (ya, sa), (yb, sb) = run(native)(v, x), run(fast)(v, x)
    np.testing.assert_allclose(yb, ya, rtol=1e-5, atol=1e-5)
    for a, b in zip(jax.tree.leaves(sa), jax.tree.leaves(sb)):
      np.testing.assert_allclose(b, a, rtol=1e-6)
    grad = lambda m: jax.grad(lambda v, x: jnp.sum(jnp.sin(run(m)(v, x)[0]) * w), (0, 1))(v, x)
    for a, b in zip(jax.tree.leaves(grad(native)), jax.tree.leaves(grad(fast))):
      np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


def _losses(name, steps=4, size=32, dtype="float32"):
  config = config_lib.base_config()
  config.compute_dtype = dtype
  config.augment.flip, config.augment.brightness = False, 0.0
  model = models.get_model(name, dtype=jnp.dtype(dtype), dropout=0.0)
  _, losses = frames_fixture.train_on_faces(model, config, jax.devices()[:1], size, steps)
  return np.array(losses)


def _native_norm_pool(pool, use_running_average, momentum, epsilon, dtype, name):
  """flax's own layers in BatchNormMaxPool's place (same variables under the same name)."""
  bn = nn.BatchNorm(
      use_running_average=use_running_average,
      momentum=momentum,
      epsilon=epsilon,
      dtype=dtype,
      name=name)
  return lambda y: nn.max_pool(bn(y), (pool, pool), strides=(pool, pool), padding="SAME")


@pytest.mark.parametrize("shape,k", [((3, 8, 8, 4), 2), ((2, 8, 12, 3), 4), ((2, 7, 9, 3), 2)])
def test_batch_norm_max_pool_is_batch_norm_then_max_pool(shape, k):
  """Same outputs, running statistics and gradients as nn.BatchNorm then nn.max_pool, with
  negative batch-norm scales (a min pool inside) and ties (a flat image, ReLU zeros), on sizes
  the pool divides (the fused op) and does not (the two-step path)."""
  rng = np.random.default_rng(0)
  x = rng.normal(size=shape) * 2 + 0.5
  x[0] = 0.7  # ties everywhere in the first image
  x = jnp.asarray(np.maximum(x, 0.0), jnp.float32)  # as after a ReLU: ties at zero too
  c = shape[-1]
  variables = {
      "params": {
          "scale": jnp.asarray(rng.normal(size=c), jnp.float32),
          "bias": jnp.asarray(rng.normal(size=c), jnp.float32)
      },
      "batch_stats": {
          "mean": jnp.asarray(rng.normal(size=c), jnp.float32),
          "var": jnp.asarray(rng.uniform(0.5, 2, size=c), jnp.float32)
      }
  }
  for train in (True, False):
    fused = norm_pool.BatchNormMaxPool(k, not train, 0.99, 1e-3)
    native = nn.Sequential([
        nn.BatchNorm(use_running_average=not train, momentum=0.99, epsilon=1e-3),
        lambda y: nn.max_pool(y, (k, k), (k, k), padding="SAME")
    ])
    nv = {
        "params": {
            "layers_0": variables["params"]
        },
        "batch_stats": {
            "layers_0": variables["batch_stats"]
        }
    }
    assert (jax.tree.structure(fused.init(jax.random.key(0), x)) == jax.tree.structure(variables))
    fwd_fused = lambda v, x: fused.apply(v, x, mutable=["batch_stats"])
    fwd_native = lambda v, x: native.apply(v, x, mutable=["batch_stats"])
    (ya, sa), (yb, sb) = fwd_native(nv, x), fwd_fused(variables, x)
    np.testing.assert_allclose(yb, ya, rtol=1e-5, atol=1e-5)
    if train:
      for key in ("mean", "var"):
        np.testing.assert_allclose(
            sb["batch_stats"][key], sa["batch_stats"]["layers_0"][key], rtol=1e-6)
    w = jnp.asarray(rng.normal(size=ya.shape), jnp.float32)
    loss = lambda f: lambda v, x: jnp.sum(jnp.sin(f(v, x)[0]) * w)
    ga = jax.grad(loss(fwd_native), (0, 1))(nv, x)
    gb = jax.grad(loss(fwd_fused), (0, 1))(variables, x)
    np.testing.assert_allclose(gb[1], ga[1], rtol=1e-4, atol=1e-5)
    for key in ("scale", "bias"):
      np.testing.assert_allclose(
          gb[0]["params"][key], ga[0]["params"]["layers_0"][key], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["meso4", "mesoinception4"])
def test_fused_norm_pool_keeps_the_loss_curve(name, monkeypatch):
  fast = _fast_losses(name)
  monkeypatch.setattr(meso, "BatchNormMaxPool", _native_norm_pool)
  native = _losses(name)
  assert np.ptp(fast) > 1e-2  # it trains, so equal curves mean something
  np.testing.assert_allclose(fast, native, rtol=1e-4, atol=1e-5)


def test_bf16_compute_stays_near_float32():
  """bfloat16 compute (config.compute_dtype, off by default) follows the float32 curve loosely:
  an option for avx512_bf16 CPUs and accelerators, not the default on this machine."""
  f32 = _fast_losses("meso4")
  bf16 = _fast_losses("meso4", "bfloat16")
  assert np.all(np.isfinite(bf16)) and np.ptp(f32) > 1e-2
  np.testing.assert_allclose(bf16, f32, rtol=0.1, atol=0.05)


def test_cache_dir_resolution(monkeypatch, tmp_path):
  monkeypatch.delenv(perf.ENV_VAR, raising=False)
  assert perf.cache_dir() == os.path.expanduser("~/.cache/fakedetect_jax/jax_cache")
  monkeypatch.setenv(perf.ENV_VAR, str(tmp_path / "env"))
  assert perf.cache_dir() == str(tmp_path / "env")
  assert perf.cache_dir(str(tmp_path / "flag")) == str(tmp_path / "flag")
  for off in ("", "none", "off"):
    assert perf.cache_dir(off) is None
  monkeypatch.setenv(perf.ENV_VAR, "none")
  assert perf.cache_dir() is None


_CACHE_SCRIPT = textwrap.dedent("""
  import sys
  import jax, jax.numpy as jnp, numpy as np
  from fakedetect_jax import perf
  from fakedetect_jax.train import state as state_lib
  assert perf.enable_compilation_cache(sys.argv[1], min_compile_secs=0) == sys.argv[1]
  mesh = state_lib.make_mesh()
  rep, data = state_lib.replicated(mesh), state_lib.batch_sharding(mesh)
  # A data-parallel step in miniature: sharded batch, replicated weights, a global reduction.
  step = jax.jit(lambda w, x: jnp.tanh(x @ w).mean() + jnp.sum(w ** 2),
                 in_shardings=(rep, data), out_shardings=rep)
  w = jnp.linspace(-1, 1, 64 * 16).reshape(64, 16)
  x = np.random.default_rng(0).normal(size=(32, 64)).astype(np.float32)
  print(repr(float(step(w, x))), jax.device_count())
""")


def test_compilation_cache_is_reused_on_eight_devices(tmp_path):
  cache = tmp_path / "jax_cache"
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8")
  run = lambda: subprocess.run([sys.executable, "-c", _CACHE_SCRIPT,
                                str(cache)],
                               cwd=REPO,
                               env=env,
                               capture_output=True,
                               text=True,
                               timeout=120)
  first = run()
  assert first.returncode == 0, first.stderr[-2000:]
  entries = sorted(os.listdir(cache))
  assert entries, "nothing was written to the cache"
  second = run()
  assert second.returncode == 0, second.stderr[-2000:]
  assert second.stdout.split()[-1] == "8"
  assert second.stdout == first.stdout  # the cached program computes the same loss
  assert sorted(os.listdir(cache)) == entries  # and nothing was compiled anew


def test_accel_config_argument():
  import importlib.util
  spec = importlib.util.spec_from_file_location("xception_config",
                                                os.path.join(REPO, "configs", "xception.py"))
  cfg = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(cfg)
  cpu, gpu8 = cfg.get_config(""), cfg.get_config("accel=gpu8")
  assert config_lib.config_hash(cpu) == config_lib.config_hash(cfg.get_config("accel=cpu"))
  assert gpu8.batch_size == 8 * cpu.batch_size and gpu8.compute_dtype == "bfloat16"
  assert gpu8.optimizer.learning_rate == pytest.approx(8 * cpu.optimizer.learning_rate)
  assert cfg.get_config("accel=tpu1").batch_size == cpu.batch_size
  with pytest.raises(Exception, match="gpuN"):
    cfg.get_config("accel=fpga2")
