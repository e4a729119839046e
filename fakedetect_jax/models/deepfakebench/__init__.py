"""Released DeepfakeBench detectors (SCLBD/DeepfakeBench) as models of ours.

    python -m fakedetect_jax.models import-deepfakebench ckpt_best.pth --detector=xception \
        --out=runs/dfb_xception

DeepfakeBench's detectors end in a 2-class linear layer whose fake probability is
softmax(logits)[:, 1]; ours end in one logit whose sigmoid is the fake probability, so the
imported head's logit is the difference of the two (checkpoint.Mapper.logit): the same
probability, exactly. Each detector is the backbone and head DeepfakeBench runs at test time;
parts used only in training (UCF's content encoder and reconstruction decoder, ...) are declared
in `unused` and skipped. Inputs are what DeepfakeBench feeds: 256 px RGB crops normalised with
mean 0.5 and std 0.5 per channel, which is our [-1, 1] (train/step.preprocess), so an imported
run needs no normalisation of its own.

A new detector: a mapping function `fill(mapper)` in this package (one module per family) and a
`register(name, Detector(...))` beside it.
"""
import dataclasses
from collections.abc import Callable, Mapping

from fakedetect_jax.errors import ConfigError
from fakedetect_jax.models.deepfakebench.checkpoint import (CheckpointError, Mapper,
                                                            read_state_dict)


@dataclasses.dataclass(frozen=True)
class Detector:
  """model       our registered model (models.REGISTRY) the weights land in
  fill        fill(mapper): puts every tensor the detector uses at test time into our model
  model_kwargs  config.model fields that make our model DeepfakeBench's variant
  unused      checkpoint prefixes used only in training (skipped, not an error)
  size        DeepfakeBench's input resolution
  mean, std   its input normalisation (all of these: 0.5, which is our [-1, 1])
  source      where its architecture is defined, for the record"""
  model: str
  fill: Callable
  model_kwargs: Mapping = dataclasses.field(default_factory=dict)
  unused: tuple = ()
  size: int = 256
  mean: tuple = (0.5, 0.5, 0.5)
  std: tuple = (0.5, 0.5, 0.5)
  source: str = ""


DETECTORS: dict[str, Detector] = {}


def register(name, detector):
  if name in DETECTORS:
    raise ConfigError(f"DeepfakeBench detector {name!r} is already registered")
  if tuple(detector.mean) != (0.5,) * 3 or tuple(detector.std) != (0.5,) * 3:
    # Our frames reach every model in [-1, 1]; another normalisation belongs in the model.
    raise ConfigError(f"{name}: normalisation mean {detector.mean} std {detector.std} is not "
                      f"[-1, 1]; make the model normalise its input itself")
  DETECTORS[name] = detector
  return detector


def names():
  return sorted(DETECTORS)


def get(name):
  if name not in DETECTORS:
    raise ConfigError(f"unknown DeepfakeBench detector {name!r}; importable: {', '.join(names())}")
  return DETECTORS[name]


def abstract_variables(detector, size=None):
  """Shapes of our model's variables for `detector` (no computation)."""
  import jax
  import jax.numpy as jnp

  from fakedetect_jax import models
  size = size or detector.size
  model = models.get_model(detector.model, **dict(detector.model_kwargs))
  v = jax.eval_shape(
      lambda: model.init(jax.random.key(0), jnp.zeros((1, size, size, 3)), train=False))
  return {k: v[k] for k in ("params", "batch_stats") if k in v}


def load(path, name, model_kwargs=None):
  """(Detector, variables {'params', 'batch_stats'} as numpy) of checkpoint `path` imported as
  DeepfakeBench detector `name`. `model_kwargs` override the detector's (tests shrink models)."""
  detector = get(name)
  if model_kwargs:
    detector = dataclasses.replace(detector, model_kwargs={**detector.model_kwargs, **model_kwargs})
  tensors = read_state_dict(path)
  mapper = Mapper(path, name, tensors, abstract_variables(detector), detector.model_kwargs)
  detector.fill(mapper)
  return detector, mapper.finish(detector.unused)


# The families register their detectors on import.
from fakedetect_jax.models.deepfakebench import clip, efficientnet, meso, xception  # noqa: E402,F401

__all__ = ["CheckpointError", "DETECTORS", "Detector", "get", "load", "names", "register"]
