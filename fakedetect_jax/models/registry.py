"""One spec per model: what the rest of the project knows about it, in one place.

Each model module registers its models when imported (`fakedetect_jax.models` imports them
all), so a new frame detector is one module that calls `register` plus one config file naming
it; training, evaluation, prediction, `python -m fakedetect_jax.models summary`, the benchmarks
and the tests read everything else from its spec:

    register("my_net", ModelSpec(MyNet, default_size=128, min_size=32))

`from_config(config)` is the one place a run's model is built from its config.
"""
import dataclasses
import re
import types
from collections.abc import Callable, Mapping
from typing import Optional

import jax.numpy as jnp
from flax import traverse_util

from fakedetect_jax.errors import ConfigError

VIEWS = ("frames", "clips", "av", "audio", "segments")  # input/views.py
EXPLAINERS = ("gradcam", "rollout")  # fakedetect_jax.explain, predict
CONVERTERS = ("keras", "timm", "clip")  # keras_convert.py, timm_convert.py, clip_convert.py


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """A registered model.

  cls           the flax module class, or a factory taking the module's keyword arguments
                (dtype, dropout, ...) and returning the module.
  default_size  input pixels it was designed for or is usually trained at (summary, convert).
  min_size      the smallest data.image_size it accepts: below it a feature map or the patch
                grid comes out empty (total stride, valid-padded stem, patch size).
  view          its input (input/views.py): 'frames' (an image batch [B, H, W, 3]) or a
                video-level dict: 'clips', 'av', 'audio', 'segments' (windows of frames,
                per-frame outputs: models/localization.py).
  explainer     how heatmaps are read from it: 'gradcam' (CNN feature map), 'rollout'
                (attention), None (no frame heatmaps: the video-level branches).
  converters    the pretrained-weight sources `python -m fakedetect_jax.models convert` and
                `pretrained=` accept for it, each with what that converter needs:
                {'keras': {'app': Keras Applications class, 'prefixes': where the network
                lands in the Flax tree (default: the root)}} or {'timm': {'layout': 'resnext' |
                'vit', timm's key naming}}. `tuple(spec.converters)` is e.g. ('keras',).
                {'clip': {'prefix': where the CLIP tower lands, 'adapt': optional function
                of the converted variables, e.g. Effort's SVD split}} (Hugging Face
                transformers or open_clip checkpoints).
  bench_size    input pixels of experiments/benchmarks/train.py (0: default_size).
  bench_batch   global batch of the benchmarks.
  trainable     None: every parameter trains; else a regular expression over parameter paths
                ('tower/encoder/blocks_0/attn/q_proj/kernel'): only the parameters it matches
                (re.search) train, the rest are frozen, with no gradient and no optimizer
                state (train/state.py), counted by `summary` in total_params only.
  """
  cls: Callable
  default_size: int = 224
  min_size: int = 32
  view: str = "frames"
  explainer: Optional[str] = "gradcam"
  converters: Mapping = dataclasses.field(default_factory=dict)
  bench_size: int = 0
  bench_batch: int = 8
  trainable: Optional[str] = None

  def __post_init__(self):
    object.__setattr__(
        self, "converters",
        types.MappingProxyType({
            k: types.MappingProxyType(dict(v)) for k, v in dict(self.converters).items()
        }))
    if not self.bench_size:
      object.__setattr__(self, "bench_size", self.default_size)


REGISTRY: dict[str, ModelSpec] = {}


def register(name, spec):
  """Adds a model under `name`; refuses a name already taken and specs that cannot work."""
  if not isinstance(spec, ModelSpec):
    raise TypeError(f"register({name!r}, ...): expected a ModelSpec, got {type(spec).__name__}")
  if name in REGISTRY:
    raise ConfigError(f"model {name!r} is already registered (by {_origin(REGISTRY[name])}); "
                      f"choose another name")
  problems = []
  if not callable(spec.cls):
    problems.append(f"cls {spec.cls!r} is not callable")
  if spec.view not in VIEWS:
    problems.append(f"view {spec.view!r} is not one of {', '.join(VIEWS)}")
  if spec.explainer is not None and (spec.explainer not in EXPLAINERS or spec.view != "frames"):
    problems.append(f"explainer {spec.explainer!r}: expected {' or '.join(EXPLAINERS)} for a "
                    f"frames model, None otherwise")
  if not 1 <= spec.min_size <= spec.default_size:
    problems.append(f"sizes: expected 1 <= min_size ({spec.min_size}) <= default_size "
                    f"({spec.default_size})")
  unknown = sorted(set(spec.converters) - set(CONVERTERS))
  if unknown:
    problems.append(f"converters {unknown}: known ones are {', '.join(CONVERTERS)}")
  if spec.trainable is not None:
    try:
      re.compile(spec.trainable)
    except re.error as e:
      problems.append(f"trainable {spec.trainable!r} is not a regular expression ({e})")
  if problems:
    raise ConfigError(f"cannot register model {name!r}: " + "; ".join(problems))
  REGISTRY[name] = spec
  return spec


def _origin(spec):
  return f"{getattr(spec.cls, '__module__', '?')}.{getattr(spec.cls, '__qualname__', spec.cls)}"


def names():
  return sorted(REGISTRY)


def spec(name):
  """The ModelSpec registered as `name`."""
  if name not in REGISTRY:
    raise ConfigError(f"unknown model {name!r}; registered models: {', '.join(names())}")
  return REGISTRY[name]


def get_model(name, **kwargs):
  """The model registered as `name`, built with kwargs (e.g. dtype, dropout)."""
  return spec(name).cls(**kwargs)


def from_config(config):
  """The model of a run: config.model.name built with every other field of config.model as a
  keyword argument and dtype=config.compute_dtype. The one place a model is built from a config
  (train loop, evaluation, prediction, fusion)."""
  s = spec(config.model.name)
  size = config.data.get("image_size") if "data" in config else None
  if size is not None and size < s.min_size:
    raise ConfigError(f"data.image_size {size} is below the smallest input {config.model.name} "
                      f"accepts ({s.min_size} px)")
  kwargs = {k: _tuples(v) for k, v in config.model.items() if k != "name"}
  return s.cls(dtype=jnp.dtype(config.compute_dtype), **kwargs)


def _tuples(value):
  # A config read back from config.json holds lists where the config file had tuples.
  return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


class Partition:
  """The trainable and frozen parts of a params tree, by a pattern over '/'-joined paths
  (re.search; None: everything trains)."""

  def __init__(self, trainable: Optional[str] = None):
    self.pattern = trainable
    self._re = re.compile(trainable) if trainable is not None else None

  def trains(self, path):
    return self._re is None or bool(self._re.search("/".join(path)))

  def split(self, params):
    """(trainable, frozen) nested dicts; a tree already holding only trainable leaves comes
    back as (itself, {})."""
    if self._re is None:
      return params, {}
    flat = traverse_util.flatten_dict(dict(params))
    parts = ({}, {})
    for path, leaf in flat.items():
      parts[0 if self.trains(path) else 1][path] = leaf
    return tuple(traverse_util.unflatten_dict(p) for p in parts)

  def trainable(self, params):
    return self.split(params)[0]

  def merge(self, trainable, frozen):
    if self._re is None:
      return trainable
    flat = traverse_util.flatten_dict(dict(frozen))
    flat.update(traverse_util.flatten_dict(dict(trainable)))
    return traverse_util.unflatten_dict(flat)
