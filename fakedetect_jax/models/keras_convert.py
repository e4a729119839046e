"""Keras Applications weights -> Flax variables, for Xception, EfficientNet and
InceptionResNetV2 (and the EfficientNet-B0 trunks of Cross Efficient ViT).

The Flax models name their layers as Keras does, so conversion is by name. Keras' unnamed
layers ('conv2d_17', 'batch_normalization_3': the number is a per-process counter, so it
depends on what was built before) are renumbered 0, 1, 2... per class in creation order, which
is how the Flax models name them. Layouts: Keras and Flax both keep conv kernels HWIO; Keras'
depthwise kernels are [h, w, C, 1] where Flax's grouped conv wants [h, w, 1, C]; batch norm
gamma/beta -> params scale/bias, moving mean/variance -> batch_stats mean/var.

TensorFlow/Keras are only imported when a Keras model or file is converted.
"""
import logging
import re
from collections.abc import Mapping

import numpy as np

from fakedetect_jax import models

_AUTO = re.compile(r"^(conv2d|batch_normalization)(?:_(\d+))?$")


def keras_models():
  """The registered models that take Keras weights (their spec's converters has 'keras')."""
  return [n for n in models.names() if "keras" in models.REGISTRY[n].converters]


def options(model_name):
  """The spec's Keras options: {'app': Keras Applications class, 'prefixes': where the Keras
  network lands in the Flax tree (several places: each gets what it has; default the root)}."""
  found = models.spec(model_name).converters.get("keras")
  if found is None:
    raise ValueError(f"{model_name!r} takes no Keras weights; Keras models: "
                     f"{', '.join(keras_models())}")
  return found


def load_keras_model(model_name, source):
  """A Keras Applications model from a keras.Model, a .keras file, a Keras Applications
  weights file (.h5 / .weights.h5, with or without top), or 'imagenet' (Keras downloads it)."""
  if not isinstance(source, str):
    return source
  import keras
  if source.endswith(".keras"):
    return keras.saving.load_model(source, compile=False)
  app = getattr(keras.applications, options(model_name)["app"])
  try:
    return app(include_top=False, weights=source)
  except ValueError:  # a file saved with the classifier on top
    return app(include_top=True, weights=source)


def keras_layers(keras_model):
  """{flax layer name: {'params': {...}, 'batch_stats': {...}}} for every weighted layer."""
  to_np = lambda v: np.asarray(v.numpy() if hasattr(v, "numpy") else v, np.float32)
  auto, out = {}, {}
  for layer in keras_model.layers:
    kind = type(layer).__name__
    if not layer.weights or kind in ("Normalization", "Rescaling"):
      if kind == "Normalization":
        _check_normalization(layer, to_np)
      continue
    if kind == "Dense" and layer.name == "predictions":
      continue  # ImageNet classifier; the detector has its own head
    name = layer.name
    m = _AUTO.match(name)
    if m:
      auto.setdefault(m.group(1), []).append((int(m.group(2) or 0), layer))
      continue
    out[name] = _convert_layer(layer, kind, to_np)
  for prefix, layers in auto.items():
    for i, (_, layer) in enumerate(sorted(layers, key=lambda t: t[0])):
      out[f"{prefix}_{i}"] = _convert_layer(layer, type(layer).__name__, to_np)
  return out


def _convert_layer(layer, kind, to_np):
  if kind == "Conv2D" or kind == "Dense":
    params = {"kernel": to_np(layer.kernel)}
    if layer.use_bias:
      params["bias"] = to_np(layer.bias)
    return {"params": params}
  if kind == "DepthwiseConv2D":
    k = to_np(layer.kernel)  # [h, w, C, multiplier] -> [h, w, 1, C * multiplier]
    params = {"kernel": k.reshape(k.shape[0], k.shape[1], 1, -1)}
    if layer.use_bias:
      params["bias"] = to_np(layer.bias)
    return {"params": params}
  if kind == "SeparableConv2D":
    dw = to_np(layer.depthwise_kernel)
    params = {
        "depthwise": {
            "kernel": dw.reshape(dw.shape[0], dw.shape[1], 1, -1)
        },
        "pointwise": {
            "kernel": to_np(layer.pointwise_kernel)
        }
    }
    if layer.use_bias:
      params["pointwise"]["bias"] = to_np(layer.bias)
    return {"params": params}
  if kind == "BatchNormalization":
    params = {}
    if layer.gamma is not None:
      params["scale"] = to_np(layer.gamma)
    if layer.beta is not None:
      params["bias"] = to_np(layer.beta)
    return {
        "params": params,
        "batch_stats": {
            "mean": to_np(layer.moving_mean),
            "var": to_np(layer.moving_variance)
        }
    }
  raise ValueError(f"Keras layer {layer.name} of type {kind} has no Flax counterpart here")


def _check_normalization(layer, to_np):
  # The Flax EfficientNet normalises by ImageNet mean/std as fixed arithmetic. Keras' ImageNet
  # weights carry that mean; a model built with weights=None carries 0 (the identity).
  from fakedetect_jax.models.layers import IMAGENET_MEAN
  mean = to_np(layer.adapt_mean if hasattr(layer, "adapt_mean") else layer.mean).reshape(-1)
  if not np.allclose(mean, IMAGENET_MEAN, atol=1e-3):
    logging.warning(
        "Keras %s normalises inputs with mean %s; the Flax EfficientNet uses the "
        "ImageNet mean %s, so outputs will differ from this Keras model's", layer.name,
        np.round(mean, 3).tolist(), IMAGENET_MEAN)


def fill(variables, layers, prefixes=((),), new_ok=("head", "att_conv")):
  """Copies converted layers into a copy of `variables` ({'params', 'batch_stats'} of the Flax
  model; leaves may be arrays or shape structs, only .shape/.dtype are read).

  Raises if a converted layer lands nowhere, a shape differs, or a Flax layer other than those
  named in `new_ok` (the detector head, B4Att's attention) is left without weights.
  """
  import jax.numpy as jnp
  out = {k: _copy(v) for k, v in variables.items()}
  used, missing = set(), []
  for prefix in prefixes:
    tree = _subtree(out.get("params", {}), prefix)
    for name in tree:
      if name not in layers:
        if name not in new_ok:
          missing.append("/".join(prefix + (name,)))
        continue
      used.add(name)
      for coll, values in layers[name].items():
        if not out.get(coll):
          continue  # e.g. params alone given: the batch-norm statistics have nowhere to go
        target = _subtree(out[coll], prefix)[name]
        for key, value in _flatten(values):
          leaf_parent = _walk(target, key[:-1])
          old = leaf_parent[key[-1]]
          if tuple(old.shape) != value.shape:
            raise ValueError(f"{'/'.join(prefix + (name,) + key)}: Keras shape {value.shape}, "
                             f"Flax shape {tuple(old.shape)} (another variant or width?)")
          leaf_parent[key[-1]] = jnp.asarray(value, old.dtype)
  unused = sorted(set(layers) - used)
  if unused:
    raise ValueError(f"Keras layers with no Flax counterpart: {unused[:8]}"
                     f"{' ...' if len(unused) > 8 else ''} (the wrong model name or variant?)")
  if missing:
    raise ValueError(f"Flax layers without Keras weights: {missing[:8]}"
                     f"{' ...' if len(missing) > 8 else ''}")
  return out


def convert(model_name, source, variables):
  """Flax variables of `model_name` with the weights of a Keras model/file (see
  load_keras_model); layers the Keras model does not have (the head) keep their values."""
  prefixes = options(model_name).get("prefixes", ((),))
  return fill(variables, keras_layers(load_keras_model(model_name, source)), prefixes)


def _copy(tree):
  return {k: _copy(v) for k, v in tree.items()} if isinstance(tree, Mapping) else tree


def _subtree(tree, path):
  for p in path:
    tree = tree[p]
  return tree


def _walk(tree, path):
  return _subtree(tree, path)


def _flatten(tree, prefix=()):
  for k, v in tree.items():
    if isinstance(v, Mapping):
      yield from _flatten(v, prefix + (k,))
    else:
      yield prefix + (k,), v
