"""Pretrained (ImageNet) weights for the zoo: convert once, load into any run.

    variables = load_pretrained("xception", "weights/xception_imagenet.npz", variables)

`path` may be
  - an .npz written by `python -m fakedetect_jax.models convert` (the usual case),
  - a Keras Applications file (.h5 / .weights.h5 / .keras), a keras.Model, or the word
    'imagenet' (Keras then downloads the file itself; needs internet), for Xception,
    EfficientNet, InceptionResNetV2 and Cross Efficient ViT's B0 trunks,
  - a timm .safetensors file, for resnext50_32x4d, vit_s16, vit_b16,
  - a CLIP checkpoint (Hugging Face transformers or open_clip / OpenAI state dict: .safetensors,
    .bin / .pt / .pth, or a Hugging Face snapshot directory) for the CLIP models
    (clip_vit_b16, clip_vit_l14, univfd, clip_finetune, effort): `clip_convert`.
The source kind follows the model's spec (its converters), not the file's extension: a
.safetensors file is a CLIP checkpoint for a CLIP model and a timm one for vit_s16.
The third argument is either the params tree or the whole variables dict ({'params',
'batch_stats'}); the same structure comes back. Only shapes and dtypes of the given leaves are
read, so it also works inside `jax.jit` (e.g. in create_state) and on `jax.eval_shape` output.
Layers the file does not have (the detector head, B4Att's attention conv, Cross Efficient ViT's
transformers) keep the values passed in. See docs/pretrained.md.

An .npz's position embeddings ('pos_embed' of the ViTs, 'position_embedding' of the CLIP models'
towers) are resized to the grid of the variables given, so one file serves several input sizes.
"""
import logging
from collections.abc import Mapping

import numpy as np

from fakedetect_jax import models
from fakedetect_jax.models import clip_convert, keras_convert, timm_convert
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
  else:
    out = convert(model_name, path, variables)
  return out if whole else out["params"]


def source_kind(model_name, source):
  """'clip', 'timm' or 'keras': the converter for `source`, chosen by the model's spec (a CLIP
  model takes CLIP checkpoints whatever the extension); None if the model takes no such
  source."""
  converters = models.REGISTRY[model_name].converters if model_name in models.REGISTRY else {}
  if "clip" in converters:
    return "clip"
  if str(source).endswith(".safetensors"):
    return "timm" if "timm" in converters else None
  return "keras" if "keras" in converters else None


def sources_text():
  """The weight sources and the models taking each, for error messages."""
  return (f"an .npz from `python -m fakedetect_jax.models convert`, a timm .safetensors "
          f"({', '.join(timm_convert.timm_models())}), Keras weights "
          f"({', '.join(keras_convert.keras_models())}) or a CLIP checkpoint (Hugging Face or "
          f"open_clip: {', '.join(clip_convert.clip_models())})")


def convert(model_name, source, variables):
  """Converted variables from a Keras, timm or CLIP source (for `save_npz`); the converter is
  the one the model's spec names (`source_kind`)."""
  kind = source_kind(model_name, source)
  if kind == "clip":
    return clip_convert.convert(model_name, source, variables)
  if kind == "timm":
    return timm_convert.convert(model_name, source, variables)
  if kind == "keras":
    return keras_convert.convert(model_name, source if hasattr(source, "layers") else str(source),
                                 variables)
  raise ValueError(f"cannot load {source!r} into {model_name!r}: expected {sources_text()}")


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
  clip_tower = "clip" in getattr(models.REGISTRY.get(model_name), "converters", {})
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
      elif leaf == "position_embedding" and clip_tower and value.ndim == len(old.shape) == 2:
        value = clip_convert.resize_position_embedding(value, old.shape[0])
      if tuple(old.shape) != value.shape:
        raise ValueError(f"{path}: {key} has shape {value.shape}, the {model_name} model "
                         f"{tuple(old.shape)} (converted for another variant or width?)")
      target[leaf] = jnp.asarray(value, old.dtype)
  if unknown:
    raise ValueError(f"{path}: variables not in {model_name}: {unknown[:8]} (another model?)")
  return out
