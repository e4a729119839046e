"""Detector models, looked up by name. Models know no TFDS: they take arrays, return logits.

Every model maps images [B, H, W, 3] (float, roughly in [-1, 1]) to one fake logit per image,
and takes `train` to switch dropout and batch-norm statistics.
"""
from fakedetect_jax.errors import ConfigError
from fakedetect_jax.models import meso

_REGISTRY = {
    "meso4": meso.Meso4,
    "mesoinception4": meso.MesoInception4,
}


def names():
  return sorted(_REGISTRY)


def get_model(name, **kwargs):
  """The model class registered as `name`, built with kwargs (e.g. dtype, dropout)."""
  if name not in _REGISTRY:
    raise ConfigError(f"unknown model {name!r}; registered models: {', '.join(names())}")
  return _REGISTRY[name](**kwargs)
