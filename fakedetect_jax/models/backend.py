"""Which implementation the backend-aware layers take: the XLA:CPU rewrites or the native ops.

Several layers (`layers.BatchNorm`, `DepthwiseConv`, `Conv1x1`, `GroupedConv`, `pool_2x2`,
`max_pool_same`, `conv.Conv`, `norm_pool.BatchNormMaxPool`) are rewritten for XLA:CPU, where
the library ops are slow (docs/performance.md). On GPU and TPU the native ops are the fast
path (cuDNN / the TPU's convolution units run grouped and depthwise convolutions, pooling and
autodiff'd batch norm well; the rewrites would only add passes), so each layer asks
`use_cpu_rewrites()` and takes the rewrite only on CPU. Both paths have the same variables
(names, shapes, collections, initialisation), so checkpoints carry over between backends, and
the same numbers up to float rounding (tests/test_backend_layers.py).

The choice: `$FAKEDETECT_LAYERS` = `auto` (default: the rewrites iff jax.default_backend() is
'cpu'), `cpu` (the rewrites everywhere) or `native` (the library ops everywhere); `force(mode)`
overrides it within a block (tests). It is read when a layer is traced, so set it before the
step is first traced: an already-compiled jitted function keeps the path it was traced with.
"""
import contextlib
import contextvars
import os

import jax

ENV_VAR = "FAKEDETECT_LAYERS"
MODES = ("auto", "cpu", "native")

_forced = contextvars.ContextVar("fakedetect_layers", default=None)


def _check(mode):
  if mode not in MODES:
    raise ValueError(f"layer path {mode!r}: expected one of {', '.join(MODES)} "
                     f"(${ENV_VAR} or backend.force)")
  return mode


def mode():
  """The requested path: force()'s, else $FAKEDETECT_LAYERS, else 'auto'."""
  forced = _forced.get()
  if forced is not None:
    return forced
  return _check(os.environ.get(ENV_VAR, "").strip().lower() or "auto")


def use_cpu_rewrites():
  """True: the layers take their XLA:CPU rewrites; False: the native lax / flax ops."""
  m = mode()
  if m == "auto":
    return jax.default_backend() == "cpu"
  return m == "cpu"


@contextlib.contextmanager
def force(mode):
  """Within the block, layers traced take `mode`'s path ('cpu', 'native' or 'auto')."""
  token = _forced.set(_check(mode))
  try:
    yield
  finally:
    _forced.reset(token)
