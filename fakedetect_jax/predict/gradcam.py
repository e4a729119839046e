"""Grad-CAM for any frame CNN, without changes to the model.

`fakedetect_jax.explain.grad_cam` needs the model to mark its feature map with `cam_tap`; the
quickstart's MesoNet does not. Here the feature map is found from the outside: a flax method
interceptor watches the direct children of the model and takes the output of the last one that
is still a spatial map (4-D, at least MIN_SIDE wide: MesoNet's last block pools to 2x2 at 64 px,
too coarse to show where on the face the evidence is). The gradient of the fake logit with
respect to that output comes from a zero perturbation added to it, so one jit computes both.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp

MIN_SIDE = 7


def _child_maps(model, variables, x):
  """[(child name, output shape)] of the root's direct children that return 4-D arrays."""
  seen = []

  def record(next_fun, args, kwargs, context):
    out = next_fun(*args, **kwargs)
    mod = context.module
    if (context.method_name == "__call__" and len(mod.path) == 1 and hasattr(out, "ndim") and
        out.ndim == 4):
      seen.append((mod.name, out.shape))
    return out

  with nn.intercept_methods(record):
    jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, x)
  return seen


def choose_layer(model, variables, x):
  """Name of the child whose output Grad-CAM reads (see the module docstring)."""
  maps = _child_maps(model, variables, x)
  if not maps:
    raise ValueError(f"{type(model).__name__} has no child module returning a feature map")
  wide = [name for name, shape in maps if min(shape[1:3]) >= MIN_SIDE]
  return wide[-1] if wide else maps[-1][0]


def make_grad_cam(model, layer):
  """(variables, x [B,H,W,3] model input) -> (heat [B,H,W] in [0,1], logits [B]); jit it."""

  def run(variables, x):

    def forward(delta):
      grabbed = {}

      def tap(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        if context.method_name == "__call__" and context.module.path == (layer,):
          out = out + delta.astype(out.dtype)
          grabbed["features"] = out
        return out

      with nn.intercept_methods(tap):
        logits = model.apply(variables, x, train=False)
      return logits.astype(jnp.float32).sum(), (grabbed["features"], logits)

    shape = jax.eval_shape(lambda: forward(jnp.zeros((1,)))[1][0]).shape
    grads, (features, logits) = jax.grad(forward, has_aux=True)(jnp.zeros(shape, jnp.float32))
    weights = grads.mean(axis=(1, 2))  # [B, C]
    cam = jax.nn.relu(jnp.einsum("bhwc,bc->bhw", features.astype(jnp.float32), weights))
    cam = jax.image.resize(cam, (cam.shape[0],) + x.shape[1:3], "bilinear")
    cam = jnp.maximum(cam, 0)
    return cam / jnp.maximum(cam.max(axis=(1, 2), keepdims=True), 1e-12), logits

  return run
