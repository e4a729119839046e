"""timm (PyTorch) state dicts in .safetensors -> Flax variables, for ResNeXt-50 32x4d and ViTs.

timm key -> Flax path by a few renames ('layer2.0.downsample.1.weight' ->
'layer2_0/downsample_1/scale'); layouts by the Flax leaf the key lands on: conv weights
[O, I, h, w] -> kernel [h, w, I, O], linear weights [out, in] -> kernel [in, out], norm
weight -> scale, BN running_mean/var -> batch_stats mean/var. Position embeddings trained at
another resolution are resized (bicubic) to the grid of the model being loaded, as timm does.
The ImageNet classifier ('fc.*', 'head.*') is dropped: the detector has its own head.
Files are read with the `safetensors` package (`clip_convert.read_safetensors`; bfloat16 and
float16 files too).
"""
import re

import numpy as np

from fakedetect_jax import models
from fakedetect_jax.models.clip_convert import read_safetensors
from fakedetect_jax.models.keras_convert import _copy, _flatten

_SKIP = re.compile(r"(^fc\.|^head\.|num_batches_tracked$)")


def _resnext_path(key):
  module, leaf = key.rsplit(".", 1)
  module = re.sub(r"^layer(\d)\.(\d+)\.", r"layer\1_\2.", module)
  module = module.replace("downsample.", "downsample_")
  return tuple(module.split(".")), leaf


def _vit_path(key):
  if key in ("cls_token", "pos_embed"):
    return ("tokens",), key
  module, leaf = key.rsplit(".", 1)
  module = module.replace("patch_embed.proj", "patch_embed")
  module = re.sub(r"^blocks\.(\d+)\.", r"encoder.blocks_\1.", module)
  module = re.sub(r"^norm$", "encoder.norm", module)
  return tuple(module.split(".")), leaf


# timm key -> Flax path, per key layout (the spec's converters['timm']['layout']).
LAYOUTS = {"resnext": _resnext_path, "vit": _vit_path}


def timm_models():
  """The registered models that take timm weights (their spec's converters has 'timm')."""
  return [n for n in models.names() if "timm" in models.REGISTRY[n].converters]


def key_path(model_name):
  """The timm key -> (Flax module path, leaf) function of a model."""
  found = models.spec(model_name).converters.get("timm")
  if found is None:
    raise ValueError(f"no timm converter for {model_name!r}; timm models: "
                     f"{', '.join(timm_models())}")
  return LAYOUTS[found["layout"]]


def resize_pos_embed(pos, n_tokens):
  """[1, 1 + g*g, D] -> [1, n_tokens, D]: the class position kept, the grid resized."""
  import jax
  if pos.shape[1] == n_tokens:
    return pos
  g, new = int(round((pos.shape[1] - 1)**0.5)), int(round((n_tokens - 1)**0.5))
  if g * g + 1 != pos.shape[1] or new * new + 1 != n_tokens:
    raise ValueError(f"position embeddings {pos.shape} -> {n_tokens} tokens: expected a class "
                     f"token and a square grid")
  grid = pos[0, 1:].reshape(g, g, -1)
  grid = np.asarray(jax.image.resize(grid, (new, new, grid.shape[-1]), "bicubic", antialias=False))
  return np.concatenate([pos[:, :1], grid.reshape(1, new * new, -1)], axis=1)


def convert_state_dict(model_name, state, variables):
  """Flax variables of `model_name` from a timm state dict {key: array}."""
  import jax.numpy as jnp
  path_of = key_path(model_name)
  out = {k: _copy(v) for k, v in variables.items()}
  filled, unused = set(), []
  for key, value in state.items():
    if _SKIP.search(key):
      continue
    if "." not in key and key not in ("cls_token", "pos_embed"):
      unused.append(key)
      continue
    module, leaf = path_of(key)
    value = np.asarray(value, np.float32)
    if leaf in ("running_mean", "running_var"):
      coll, name = "batch_stats", {"running_mean": "mean", "running_var": "var"}[leaf]
      if not out.get(coll):
        continue  # params alone given: the statistics have nowhere to go
    else:
      coll = "params"
    try:
      target = out[coll]
      for m in module:
        target = target[m]
    except KeyError:
      unused.append(key)
      continue
    if coll == "params":
      if leaf == "weight" and "kernel" in target:
        name = "kernel"
        value = value.transpose(2, 3, 1, 0) if value.ndim == 4 else value.T
      elif leaf == "weight":
        name = "scale"
      else:
        name = leaf
    if name not in target:
      unused.append(key)
      continue
    if name == "pos_embed":
      value = resize_pos_embed(value, target[name].shape[1])
    if tuple(target[name].shape) != value.shape:
      raise ValueError(f"{key}: timm shape {value.shape} -> Flax {'/'.join(module + (name,))} "
                       f"shape {tuple(target[name].shape)} (another variant?)")
    target[name] = jnp.asarray(value, target[name].dtype)
    filled.add((coll,) + module + (name,))
  missing = [
      p for p in (((c,) + k) for c in out for k, _ in _flatten(out[c]))
      if p not in filled and p[1] != "head"
  ]
  if unused:
    raise ValueError(f"timm keys with no Flax counterpart in {model_name}: {unused[:8]}")
  if missing:
    raise ValueError(f"Flax variables of {model_name} not in the timm file: "
                     f"{['/'.join(p) for p in missing[:8]]}")
  return out


def convert(model_name, path, variables):
  return convert_state_dict(model_name, read_safetensors(path), variables)
