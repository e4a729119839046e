"""Backend-aware layers (fakedetect_jax/models/backend.py): the XLA:CPU
rewrites and the native lax / flax ops that GPU and TPU take have the same variables (names,
shapes, collections, initial values), outputs, batch-statistics updates and gradients with
respect to inputs and every variable. Both paths are run here on the CPU, forced by
`backend.force`, and each check first asserts that they did trace different programs.

Tolerance (`_close`): float32, 1e-5 relative plus an absolute 1e-5 of the largest magnitude in
the compared array. The paths sum in different orders (shifted multiply-adds against a
convolution, per-tap einsums against XLA's kernel gradient, the hand-written batch-norm
gradient against JAX's), so an element that is a near-cancelling sum carries an error of the
array's scale, not of its own size. The pooling layers are compared exactly (both paths pick
the same elements). Whole models: 2e-5 of each array's scale, see `MODEL_RTOL`.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fakedetect_jax.models import backend, conv, efficientnet, layers, meso, norm_pool, resnext

RTOL = 1e-5
# Whole models chain tens of layers, each path rounding differently: measured agreement is
# 1e-6-5e-6 of each array's scale, about what a 1e-7 relative change of the input does to
# one path's own gradients; 2e-5 leaves a margin for other CPUs' summation orders. Models with
# ReLUs and max pools have kinks: a pre-activation within rounding of 0 (or a near-tied
# window) can take different branches on the two paths and its gradient jumps. The sizes and
# seeds below have none (a Xception at 64 px did: one channel's batch-norm bias gradient off
# by 30%, with the same path jitted and eager disagreeing as much), hence no Xception here.
MODEL_RTOL = 2e-5


def _max_abs(x):
  x = np.asarray(x, np.float64)
  return float(np.max(np.abs(x))) if x.size else 0.0


def _close(a, b, rtol=RTOL, what="", floor=0.0):
  """|a - b| <= rtol * (|b| + max(max |b|, floor)) elementwise."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * max(_max_abs(b), floor), err_msg=what)


def _tree_close(a, b, rtol=RTOL, what="", floor=0.0):
  assert jax.tree.structure(a) == jax.tree.structure(b), what
  for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(a), jax.tree.leaves(b)):
    assert x.shape == y.shape and x.dtype == y.dtype, (what, path)
    _close(x, y, rtol, f"{what} {jax.tree_util.keystr(path)}", floor)


# --------------------------------------------------------------------------------------------
# The switch.


def test_switch_env_var_and_force(monkeypatch):
  monkeypatch.delenv(backend.ENV_VAR, raising=False)
  assert backend.mode() == "auto"
  assert backend.use_cpu_rewrites() == (jax.default_backend() == "cpu")
  monkeypatch.setenv(backend.ENV_VAR, "native")
  assert not backend.use_cpu_rewrites()
  with backend.force("cpu"):  # force() wins over the environment, and nests
    assert backend.use_cpu_rewrites()
    with backend.force("native"):
      assert not backend.use_cpu_rewrites()
    assert backend.use_cpu_rewrites()
  assert not backend.use_cpu_rewrites()
  monkeypatch.setenv(backend.ENV_VAR, " CPU ")
  assert backend.use_cpu_rewrites()
  monkeypatch.setenv(backend.ENV_VAR, "gpu")
  with pytest.raises(ValueError, match="auto, cpu, native"):
    backend.use_cpu_rewrites()
  with pytest.raises(ValueError, match="auto, cpu, native"):
    with backend.force("tpu"):
      pass


def test_chunking_follows_the_switch():
  batch = 32 * jax.device_count()
  with backend.force("cpu"):
    assert conv.kernel_grad_chunks(batch) == 2
  with backend.force("native"):
    assert conv.kernel_grad_chunks(batch) == 1


# --------------------------------------------------------------------------------------------
# Running a module under both paths.


def _perturb(variables, seed=1):
  """Variables away from their initial values (non-zero biases and running means, scales of
  both signs, running variances other than 1), so that every gradient term is exercised."""
  rng = np.random.default_rng(seed)
  out = {}
  for col, tree in variables.items():

    def f(path, t, col=col):
      noise = rng.normal(size=t.shape).astype(np.float32)
      if path[-1].key == "var":  # running variances stay positive
        return t + np.abs(noise)
      return t + (0.5 if col == "batch_stats" else 0.3) * noise

    out[col] = jax.tree_util.tree_map_with_path(f, tree)
  return out


def _run(path, module, variables, x, **kw):
  """Under `path`: the output, the batch_stats update and the gradients of a fixed random
  projection of the output w.r.t. (all variables, x), and the traced program's text. A fresh
  jitted function per call, so nothing traced under one path is reused under the other."""

  def fwd(v, x):
    return module.apply(v, x, mutable=["batch_stats"], **kw)

  def loss(v, x):
    y, state = fwd(v, x)
    w = np.random.default_rng(7).normal(size=y.shape).astype(np.float32)  # a constant
    return jnp.sum(jnp.sin(y.astype(jnp.float32)) * w), (y, state)

  with backend.force(path):
    lowered = jax.jit(jax.value_and_grad(loss, (0, 1), has_aux=True)).lower(variables, x)
    (_, (y, state)), grads = lowered.compile()(variables, x)
  return y, state, grads, lowered.as_text()


def _init(path, module, x, **kw):
  with backend.force(path):  # eagerly: the ops' compilations are shared between the tests
    return module.init(jax.random.key(0), x, **kw)


def _random_variables(shapes, seed=1):
  """Variables for a whole model without running its initialisers (jitted, a model's RNG
  took ~7 s to compile here): kernels ~ N(0, 1/fan-in), batch-norm scales 1 +- 0.3, biases
  and running means away from 0, running variances in [1, 4)."""
  rng = np.random.default_rng(seed)

  def f(path, s):
    name = path[-1].key
    noise = rng.normal(size=s.shape)
    if name == "kernel":
      value = noise / np.sqrt(np.prod(s.shape[:-1]))
    elif name == "scale":
      value = 1 + 0.3 * noise
    elif name == "var":
      value = 1 + np.abs(noise)
    elif path[0].key == "perturbations":
      value = np.zeros(s.shape)
    else:
      value = 0.3 * noise
    return jnp.asarray(value, s.dtype)

  return jax.tree_util.tree_map_with_path(f, shapes)


def _check_both_paths(module, x, rtol=RTOL, exact=False, differ=True, model=False, **kw):
  """Same variables from init (for a `model`, the same names, shapes and dtypes: its layers'
  initial values are compared in the layer tests), different programs (unless `differ` is
  False: a layer with no rewrite in that mode), same outputs, statistics and gradients."""
  if model:
    with backend.force("cpu"):
      v_cpu = jax.eval_shape(lambda x: module.init(jax.random.key(0), x, **kw), x)
    with backend.force("native"):
      v_native = jax.eval_shape(lambda x: module.init(jax.random.key(0), x, **kw), x)
  else:
    v_cpu, v_native = _init("cpu", module, x, **kw), _init("native", module, x, **kw)
  assert jax.tree.structure(v_cpu) == jax.tree.structure(v_native)
  for a, b in zip(jax.tree.leaves(v_cpu), jax.tree.leaves(v_native)):
    assert a.shape == b.shape and a.dtype == b.dtype
    if not model:
      np.testing.assert_array_equal(a, b)
  variables = _random_variables(v_cpu) if model else _perturb(v_cpu)
  y_c, s_c, g_c, prog_c = _run("cpu", module, variables, x, **kw)
  y_n, s_n, g_n, prog_n = _run("native", module, variables, x, **kw)
  assert (prog_c != prog_n) == differ, "both paths traced the same program"
  assert y_c.dtype == y_n.dtype and y_c.shape == y_n.shape
  assert jax.tree.structure(s_c) == jax.tree.structure(s_n)
  if exact:
    for a, b in zip(jax.tree.leaves((y_c, s_c, g_c)), jax.tree.leaves((y_n, s_n, g_n))):
      np.testing.assert_array_equal(a, b)
    return
  _close(y_c, y_n, rtol, "output")
  _tree_close(s_c, s_n, rtol, "batch_stats")
  # In a model some gradients are 0 but for rounding (a batch norm's bias feeding a linear
  # layer and another batch norm: ~1e-8 of the largest gradient): each array's scale is at
  # least 1% of the model's largest gradient.
  floor = 1e-2 * max(map(_max_abs, jax.tree.leaves(g_n[0]))) if model else 0.0
  _tree_close(g_c[0], g_n[0], rtol, "variable gradients", floor)
  _close(g_c[1], g_n[1], rtol, "input gradient")


def _normal(shape, seed=0, scale=1.0, offset=0.0):
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape) * scale + offset, jnp.float32)


class _Fn:
  """A plain function (a pooling op) as a variable-less module for `_check_both_paths`."""

  def __init__(self, f):
    self.f = f

  def init(self, key, x):
    return {}

  def apply(self, v, x, mutable=()):
    return self.f(x), {}


# --------------------------------------------------------------------------------------------
# Each layer.


@pytest.mark.parametrize("train", [True, False])
def test_batch_norm(train):
  # Inference is the same arithmetic on both paths (only training has its own gradient).
  _check_both_paths(
      layers.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-3),
      _normal((4, 6, 6, 5), scale=3, offset=1),
      differ=train)


@pytest.mark.parametrize("k,stride,size", [(3, 1, 8), (5, 2, 9)])  # 3x3/2: EfficientNet
def test_depthwise_conv(k, stride, size):
  _check_both_paths(layers.DepthwiseConv(k, stride), _normal((2, size, size, 6)))


@pytest.mark.parametrize("strides,use_bias,size", [(1, False, 6), (2, True, 7)])
def test_conv1x1(strides, use_bias, size):
  _check_both_paths(
      layers.Conv1x1(4, strides=strides, use_bias=use_bias), _normal((2, size, size, 5)))


@pytest.mark.parametrize("stride,size", [(2, 9)])  # stride 1: in ResNeXt below
def test_grouped_conv(stride, size):
  _check_both_paths(layers.GroupedConv(8, 3, stride, groups=4), _normal((2, size, size, 8)))


@pytest.mark.parametrize("shape", [(2, 8, 8, 3), (2, 7, 9, 3)])
def test_pool_2x2(shape):
  # Random normal inputs: no ties (there jnp.max's gradient is split, nn.max_pool's is not).
  _check_both_paths(_Fn(layers.pool_2x2), _normal(shape), exact=True)


@pytest.mark.parametrize("shape,k", [((2, 8, 8, 3), 2), ((2, 7, 9, 3), 2), ((2, 7, 9, 3), 3),
                                     ((2, 8, 8, 3), 4)])
def test_max_pool_same(shape, k):
  x = np.maximum(np.asarray(_normal(shape)), 0.0)  # ties at zero: the first maximum takes it
  x[0, :4, :4] = 0.5
  _check_both_paths(_Fn(lambda x: layers.max_pool_same(x, k)), jnp.asarray(x), exact=True)


@pytest.mark.parametrize("dilation", [1, 2])
def test_chunked_conv(dilation):
  """32 examples per device: two kernel-gradient chunks on the CPU path, one call natively."""
  _check_both_paths(conv.Conv(4, 3, dilation), _normal((32 * jax.device_count(), 6, 6, 3)))


@pytest.mark.parametrize("shape,k,train", [((3, 8, 8, 4), 2, True), ((2, 8, 12, 3), 4, False),
                                           ((2, 7, 9, 3), 2, True), ((2, 7, 9, 3), 2, False)])
def test_batch_norm_max_pool(shape, k, train):
  """Fused on CPU where k divides the size, two-step (with the CPU pool) where not; batch
  norm then nn.max_pool natively. Negative scales (a min pool inside) and ties included."""
  rng = np.random.default_rng(0)
  x = rng.normal(size=shape) * 2 + 0.5
  x[0] = 0.7  # ties everywhere in the first image, and at the ReLU's zeros
  x = jnp.asarray(np.maximum(x, 0.0), jnp.float32)
  _check_both_paths(norm_pool.BatchNormMaxPool(k, not train, 0.99, 1e-3), x)


def test_output_dtypes_follow_the_compute_dtype():
  """bfloat16 compute: both paths give the same dtype and (bfloat16 rounding apart) values."""
  x = _normal((2, 8, 8, 8))
  # (GroupedConv and BatchNorm cast their input the same way on both paths.)
  for module in (layers.DepthwiseConv(3, dtype=jnp.bfloat16), layers.Conv1x1(4,
                                                                             dtype=jnp.bfloat16)):
    v = module.init(jax.random.key(0), x)
    for inputs in (x, x.astype(jnp.bfloat16)):
      outs = []
      for path in ("cpu", "native"):
        with backend.force(path):
          outs.append(module.apply(v, inputs, mutable=["batch_stats"])[0])
      assert outs[0].dtype == outs[1].dtype, module
      _close(outs[0], outs[1], rtol=2e-2, what=str(module))


# --------------------------------------------------------------------------------------------
# Whole models, training mode: every layer of the model on one path or the other.


def test_meso4_64px():
  """Conv and BatchNormMaxPool (fused on CPU; pools 2 and 4). A batch of 4: the chunked
  kernel gradient needs 32 per device (256 here: ~90 s) and is tested above."""
  model = meso.Meso4(dropout=0.0)
  _check_both_paths(
      model, jnp.tanh(_normal((4, 64, 64, 3))), rtol=MODEL_RTOL, model=True, train=True)


def test_efficientnet_b0_small():
  """DepthwiseConv (3x3 and 5x5, strides 1 and 2), Conv1x1 with and without bias (squeeze-
  excite), BatchNorm. Swish and sigmoid only: no kinks. 64 px so that no batch norm sees
  only a handful of values (at 32 px, batch 2, the last ones normalise 2 numbers a channel and
  amplify rounding a thousandfold)."""
  model = efficientnet.EfficientNet(
      "b0", dropout=0.0, drop_connect=0.0, width=0.25, depth=0.34, stages=3)
  _check_both_paths(
      model, jnp.tanh(_normal((2, 64, 64, 3))), rtol=MODEL_RTOL, model=True, train=True)


def test_resnext_grouped_small():
  """GroupedConv (strides 1 and 2) and BatchNorm in ResNeXt's bottlenecks."""
  model = resnext.ResNeXt(dropout=0.0, layers=(1, 1), groups=4, base_width=16, stem=8)
  _check_both_paths(
      model, jnp.tanh(_normal((2, 32, 32, 3))), rtol=MODEL_RTOL, model=True, train=True)
