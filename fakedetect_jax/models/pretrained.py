"""Pretrained (ImageNet) weights for the zoo: convert once, load into any run.

    variables = load_pretrained("xception", "weights/xception_imagenet.npz", variables)

`path` may be
  - an .npz written by `python -m fakedetect_jax.models convert` (the usual case),
  - a Keras Applications file (.h5 / .weights.h5 / .keras), a keras.Model, or the word
    'imagenet' (Keras then downloads the file itself; needs internet), for Xception,
    EfficientNet, InceptionResNetV2 and Cross Efficient ViT's B0 trunks,
  - a timm .safetensors file, for resnext50_32x4d, vit_s16, vit_b16.
The third argument is either the params tree or the whole variables dict ({'params',
'batch_stats'}); the same structure comes back. Only shapes and dtypes of the given leaves are
read, so it also works inside `jax.jit` (e.g. in create_state) and on `jax.eval_shape` output.
Layers the file does not have (the detector head, B4Att's attention conv, Cross Efficient ViT's
transformers) keep the values passed in. See docs/pretrained.md.
"""
import logging
from collections.abc import Mapping

import numpy as np

from fakedetect_jax.models import keras_convert, timm_convert
from fakedetect_jax.models.keras_convert import _copy, _flatten


def load_pretrained(model_name, path, params):
  """params (or {'params', 'batch_stats'}) with the pretrained weights of `path` filled in."""
  whole = isinstance(params, Mapping) and "params" in params
  variables = dict(params) if whole else {"params": params}
  if "batch_stats" not in variables:
    # Params alone: the file's batch-norm statistics have nowhere to go and are left out.
    variables["batch_stats"], drop_stats = {}, True
  else:
    drop_stats = False
  if str(path).endswith(".npz"):
    out = _load_npz(model_name, path, variables, skip=("batch_stats",) if drop_stats else ())
  elif str(path).endswith(".safetensors"):
    out = timm_convert.convert(model_name, path, variables)
  elif model_name in keras_convert.keras_models():
    out = keras_convert.convert(model_name, path if hasattr(path, "layers") else str(path),
                                variables)
  else:
    raise ValueError(f"cannot load {path!r} into {model_name!r}: expected an .npz from "
                     f"`python -m fakedetect_jax.models convert`, a timm .safetensors "
                     f"({', '.join(timm_convert.timm_models())}) or Keras weights "
                     f"({', '.join(keras_convert.keras_models())})")
  return out if whole else out["params"]


def convert(model_name, source, variables):
  """Converted variables from a Keras or timm source (for `save_npz`)."""
  if str(source).endswith(".safetensors"):
    return timm_convert.convert(model_name, source, variables)
  return keras_convert.convert(model_name, source, variables)


def save_npz(path, model_name, variables):
  """Writes every converted (array) leaf as 'collection/module/.../leaf'; leaves that are still
  shape structs (the head, left to the run that loads the file) are not written."""
  import jax
  arrays = {
      "/".join(k): np.asarray(v)
      for k, v in _flatten(variables)
      if not isinstance(v, jax.ShapeDtypeStruct)
  }
  np.savez(path, __model__=np.array(model_name), **arrays)
  return len(arrays)


def _load_npz(model_name, path, variables, skip=()):
  import jax.numpy as jnp
  out = {k: _copy(v) for k, v in variables.items()}
  with np.load(path) as f:
    stored = f["__model__"].item() if "__model__" in f.files else model_name
    if stored.split("_att")[0] != model_name.split("_att")[0]:
      logging.warning("%s holds %s weights, loading them into %s", path, stored, model_name)
    unknown = []
    for key in f.files:
      if key == "__model__" or key.split("/")[0] in skip:
        continue
      *parents, leaf = key.split("/")
      target = out
      try:
        for p in parents:
          target = target[p]
        old = target[leaf]
      except (KeyError, TypeError):
        unknown.append(key)
        continue
      value = f[key]
      if leaf == "pos_embed":
        value = timm_convert.resize_pos_embed(value, old.shape[1])
      if tuple(old.shape) != value.shape:
        raise ValueError(f"{path}: {key} has shape {value.shape}, the {model_name} model "
                         f"{tuple(old.shape)} (converted for another variant or width?)")
      target[leaf] = jnp.asarray(value, old.dtype)
  if unknown:
    raise ValueError(f"{path}: variables not in {model_name}: {unknown[:8]} (another model?)")
  return out
