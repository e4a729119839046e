"""Detector models, looked up by name. Models know no TFDS: they take arrays, return logits.

Every frame model maps images [B, H, W, 3] (float, roughly in [-1, 1]) to one fake logit per
image, and takes `train` to switch dropout and batch-norm statistics; the video-level branches
take a view dict (input/views.py) instead. What the project knows about each model (sizes, view,
explainer, weight converters, benchmark settings) is its ModelSpec in REGISTRY (registry.py);
each model module below registers its own models when imported.
"""
from fakedetect_jax.models.registry import (CONVERTERS, EXPLAINERS, REGISTRY, VIEWS, ModelSpec,
                                            from_config, get_model, names, register, spec)

# Imported for their registrations.
from fakedetect_jax.models import audio, lipsync, temporal  # noqa: E402,F401
from fakedetect_jax.models import (
    cross_vit,
    efficientnet,
    inception_resnet_v2,
    meso,  # noqa: E402,F401
    resnext,
    vit,
    xception)
from fakedetect_jax.models import spsl, srm, ucf  # noqa: E402,F401
from fakedetect_jax.models import clip, effort  # noqa: E402,F401
from fakedetect_jax.models import f3net, tall  # noqa: E402,F401
from fakedetect_jax.models import localization  # noqa: E402,F401

__all__ = [
    "CONVERTERS", "EXPLAINERS", "REGISTRY", "VIEWS", "ModelSpec", "from_config", "get_model",
    "names", "register", "spec"
]
