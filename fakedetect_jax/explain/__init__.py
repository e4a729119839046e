"""Why did a detector call a face fake? Heatmaps over the face crop.

Grad-CAM (Selvaraju et al. 2017) for the CNNs, attention rollout (Abnar and Zuidema 2020) for
the ViTs, both as [B, H, W] arrays in [0, 1] at the input resolution, and as PNG overlays.

    from fakedetect_jax import explain
    heat = explain.heatmaps("xception", model, variables, images_uint8)
    explain.save_overlays(images_uint8, heat, "runs/x/explain", prefix="val")
"""
from fakedetect_jax.explain.gradcam import grad_cam
from fakedetect_jax.explain.overlay import overlay, save_overlays
from fakedetect_jax.explain.rollout import attention_rollout

# Models whose evidence is read from attention; conv_vit has a CNN stem too (Grad-CAM works).
TRANSFORMERS = ("vit_s16", "vit_b16", "cross_efficient_vit", "conv_vit")


def heatmaps(model_name, model, variables, images):
  """Grad-CAM for CNNs, attention rollout for transformers; images uint8 or [-1, 1] floats."""
  if model_name in TRANSFORMERS:
    return attention_rollout(model, variables, images)
  return grad_cam(model, variables, images)
