"""Why did a detector call a face fake? Heatmaps over the face crop.

Grad-CAM (Selvaraju et al. 2017) for the CNNs, attention rollout (Abnar and Zuidema 2020) for
the ViTs, both as [B, H, W] arrays in [0, 1] at the input resolution, and as PNG overlays.
Which one a model takes is its spec's `explainer` (models.REGISTRY).

    from fakedetect_jax import explain
    heat = explain.heatmaps("xception", model, variables, images_uint8)
    explain.save_overlays(images_uint8, heat, "runs/x/explain", prefix="val")
"""
from fakedetect_jax import models
from fakedetect_jax.explain.gradcam import grad_cam
from fakedetect_jax.explain.overlay import overlay, save_overlays
from fakedetect_jax.explain.rollout import attention_rollout

EXPLAINERS = {"gradcam": grad_cam, "rollout": attention_rollout}


def heatmaps(model_name, model, variables, images):
  """The explainer of model_name's spec: Grad-CAM for CNNs, attention rollout for transformers;
  images uint8 or [-1, 1] floats."""
  kind = models.spec(model_name).explainer
  if kind is None:
    raise ValueError(f"{model_name} has no frame explainer (its spec's explainer is None)")
  return EXPLAINERS[kind](model, variables, images)
