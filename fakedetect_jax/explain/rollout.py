"""Attention rollout (Abnar and Zuidema 2020): how much each patch token flows into the class
token through all layers, taking the residual path into account.

Per layer: the heads' attention averaged, plus the identity (the residual), rows renormalised;
the product over layers in order; the class token's row over the patch tokens is the map.
Cross Efficient ViT has two token sequences: each branch's self-attention is rolled out on its
own (cross-attention only moves class tokens) and the two maps, at image resolution, averaged.
"""
import re

import jax
import jax.numpy as jnp
import numpy as np

from fakedetect_jax.explain.gradcam import _variables, as_model_input, normalize_maps


def _attention_layers(intermediates):
  """{encoder path: [attention [B, heads, N, N] in layer order]} from sown 'attention' values."""
  found = []

  def walk(tree, path):
    for k, v in tree.items():
      if isinstance(v, dict):
        walk(v, path + (k,))
      elif k == "attention" and path and path[-1] == "attn":
        found.append((path, v[0]))

  walk(intermediates, ())
  key = lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", "/".join(p))]
  by_branch = {}
  for path, weights in sorted(found, key=lambda t: key(t[0])):
    blocks = [i for i, p in enumerate(path) if p.startswith("blocks_")]
    if not blocks:
      continue  # cross-attention: queries are class tokens only
    encoder = path[blocks[-1] - 1]
    branch = re.sub(r"_\d+$", "", encoder)  # sm_enc_0, sm_enc_1 ... chain as one branch
    by_branch.setdefault(branch, []).append(weights)
  return by_branch


def rollout(attentions):
  """[B, N, N] class-to-token flow through a list of [B, heads, N, N] attention layers."""
  result = None
  for a in attentions:
    a = a.astype(jnp.float32).mean(axis=1)
    a = a + jnp.eye(a.shape[-1])
    a = a / a.sum(axis=-1, keepdims=True)
    result = a if result is None else a @ result
  return result


def rollout_maps(model, variables, x):
  """The jittable core: ([B, H, W] maps, logits) for [-1, 1] images x."""
  logits, state = model.apply(variables, x, train=False, mutable=["intermediates"])
  branches = _attention_layers(state.get("intermediates", {}))
  if not branches:
    raise ValueError(f"{type(model).__name__} sows no attention weights to roll out")
  maps = []
  for layers in branches.values():
    flow = rollout(layers)[:, 0, 1:]  # class token's row, patch tokens
    g = int(round(flow.shape[-1]**0.5))
    maps.append(normalize_maps(flow.reshape(-1, g, g), x.shape[1]))
  return sum(maps) / len(maps), logits


def attention_rollout(model, variables, images, return_logits=False):
  """Heatmaps [B, H, W] in [0, 1] (numpy) of the patches the class token drew on."""
  x = as_model_input(images)
  maps, logits = jax.jit(lambda v, x: rollout_maps(model, v, x))(_variables(variables), x)
  return (np.asarray(maps), np.asarray(logits)) if return_logits else np.asarray(maps)
