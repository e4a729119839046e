"""Grad-CAM: the last conv feature map weighted by the pooled gradient of the fake logit.

Every zoo CNN marks that feature map with `layers.cam_tap` (sow + perturb), so the gradient
with respect to it comes from one jax.grad over a zero 'perturbation' added to it: no second
model definition, no hooks.
"""
import jax
import jax.numpy as jnp
import numpy as np


def as_model_input(images):
  """uint8 [B, H, W, 3] -> [-1, 1] float32 (what the train step feeds); floats pass through."""
  images = jnp.asarray(images)
  if images.dtype == jnp.uint8:
    return images.astype(jnp.float32) / 127.5 - 1.0
  return images.astype(jnp.float32)


def _variables(variables):
  return {k: variables[k] for k in ("params", "batch_stats") if k in variables and variables[k]}


def normalize_maps(maps, size):
  """[B, h, w] >= 0 -> [B, size, size] bilinear, each map scaled to max 1 (all-zero stays 0)."""
  maps = jax.image.resize(maps, (maps.shape[0], size, size), "bilinear")
  maps = jnp.maximum(maps, 0)
  return maps / jnp.maximum(maps.max(axis=(1, 2), keepdims=True), 1e-12)


def grad_cam(model, variables, images, return_logits=False):
  """Heatmaps [B, H, W] in [0, 1] of where the fake logit's evidence lies (numpy)."""
  x = as_model_input(images)
  v = _variables(variables)

  @jax.jit
  def run(v, x):
    _, state = jax.eval_shape(lambda: model.apply(v, x, train=False, mutable=["intermediates"]))
    if "cam_features" not in state.get("intermediates", {}):
      raise ValueError(f"{type(model).__name__} marks no feature map for Grad-CAM (cam_tap)")
    shape = state["intermediates"]["cam_features"][0]

    def fake_logit(perturbation):
      logits, st = model.apply({
          **v, "perturbations": {
              "cam_features": perturbation
          }
      },
                               x,
                               train=False,
                               mutable=["intermediates"])
      return logits.sum(), (st["intermediates"]["cam_features"][0], logits)

    grads, (features, logits) = jax.grad(
        fake_logit, has_aux=True)(
            jnp.zeros(shape.shape, shape.dtype))
    weights = grads.astype(jnp.float32).mean(axis=(1, 2))  # [B, C]
    cam = jnp.einsum("bhwc,bc->bhw", features.astype(jnp.float32), weights)
    return normalize_maps(jax.nn.relu(cam), x.shape[1]), logits

  maps, logits = run(v, x)
  return (np.asarray(maps), np.asarray(logits)) if return_logits else np.asarray(maps)
