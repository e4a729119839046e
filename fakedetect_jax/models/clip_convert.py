"""CLIP image towers from Hugging Face `transformers` or open_clip / OpenAI checkpoints -> Flax.

    variables = clip_convert.convert("effort", "weights/clip-vit-large-patch14", variables)

For the models whose spec has converters['clip'] (clip_vit_b16, clip_vit_l14, univfd,
clip_finetune, effort): the image tower of the checkpoint goes to the spec's 'prefix' in the
params ('tower'), then the spec's 'adapt' (Effort's SVD split, `effort.from_clip`) is applied.
Every other part of the variables (the detector head) keeps the values passed in; only shapes
and dtypes of the given leaves are read, so abstract variables (`jax.eval_shape`) work too.

Sources (`read_checkpoint`):
  - a .safetensors file (float32, float16 or bfloat16; read with the `safetensors` package, only
    the image tower's tensors), or a sharded one through its `*.safetensors.index.json`;
  - a PyTorch state dict, .bin / .pt / .pth (torch.load(weights_only=True); torch needed);
  - a directory: a Hugging Face snapshot (model.safetensors, pytorch_model.bin, their sharded
    index) or an open_clip hub folder (open_clip_model.safetensors, open_clip_pytorch_model.bin).
OpenAI's own ViT-L-14.pt / ViT-B-16.pt are TorchScript archives, which torch.load cannot read
with weights_only=True: load them through open_clip
(`open_clip.create_model_and_transforms('ViT-L-14', pretrained='openai')`) and save
`model.state_dict()`; that state dict has OpenAI's key names and converts.

Key layouts, told apart by their keys:
  Hugging Face   CLIPModel, CLIPVisionModelWithProjection ('vision_model.' + the tower,
                 'visual_projection.weight'), CLIPVisionModel (the tower alone, with or without
                 'vision_model.'); q/k/v/out_proj, layer_norm1/2, mlp.fc1/fc2, pre_layrnorm.
  open_clip      'visual.' + conv1, class_embedding, positional_embedding, ln_pre,
  (= OpenAI)     transformer.resblocks.N.{ln_1, attn.in_proj_* (fused q/k/v, split here),
                 attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj}, ln_post, proj ([width, embed]).
Text-tower keys, logit_scale and position_ids are ignored; a 'module.' prefix (DDP) and a
{'state_dict': ...} wrapper are taken off. Layouts: conv [O, I, h, w] -> kernel [h, w, I, O],
Linear [out, in] -> kernel [in, out], LayerNorm weight -> scale.

The visual projection goes to the tower's `proj` where the model has one (the models whose head
reads the image embedding: clip_vit_*, univfd, clip_finetune); a model on the pooled class token
(effort) has none, and the file's projection is left out. A checkpoint without it (a
CLIPVisionModel) is refused for the models that need it (their projection would be random).
Position embeddings of another input size are resized bicubically as PyTorch's
F.interpolate(mode='bicubic', align_corners=False) does (what transformers'
interpolate_pos_encoding and open_clip's resize_pos_embed use), so a 224 px checkpoint serves a
336 px run. A checkpoint of another variant stops with one line naming the file, the key and
both shapes; every leaf of the Flax tower must be filled. `read_safetensors` is also
timm_convert's reader.
"""
import inspect
import json
import os
import re
import zipfile
from collections.abc import Mapping

import numpy as np

from fakedetect_jax import models
from fakedetect_jax.models.keras_convert import _copy, _flatten

# What a directory may hold, in the order looked for (Hugging Face, then open_clip's hub names).
DIRECTORY_FILES = ("model.safetensors", "model.safetensors.index.json",
                   "open_clip_model.safetensors", "pytorch_model.bin",
                   "pytorch_model.bin.index.json", "open_clip_pytorch_model.bin")
_TORCH_SUFFIXES = (".bin", ".pt", ".pth")
_HF_PATCH = "embeddings.patch_embedding.weight"


def clip_models():
  """The registered models that take CLIP weights (their spec's converters has 'clip')."""
  return [n for n in models.names() if "clip" in models.REGISTRY[n].converters]


def options(model_name):
  found = models.spec(model_name).converters.get("clip")
  if found is None:
    raise ValueError(f"{model_name!r} takes no CLIP weights; CLIP models: "
                     f"{', '.join(clip_models())}")
  return found


# ----------------------------------------------------------------------------------------------
# Reading checkpoint files.


def read_safetensors(path, keep=None):
  """{name: np.ndarray} of a .safetensors file (the names in `keep(all names)`; all if None).
  bfloat16 tensors come back as float32 (numpy has no bfloat16), the rest in their dtype."""
  from safetensors import SafetensorError, safe_open
  out = {}
  try:
    with safe_open(str(path), framework="np") as f:
      names = list(f.keys())
      if keep is not None:
        wanted = keep(names)
        names = [k for k in names if k in wanted]
      bf16 = {k for k in names if f.get_slice(k).get_dtype() == "BF16"}
      for k in names:
        if k not in bf16:
          out[k] = f.get_tensor(k)
    if bf16:
      with safe_open(str(path), framework="flax") as f:  # jax holds bfloat16
        for k in sorted(bf16):
          out[k] = np.asarray(f.get_tensor(k), np.float32)
  except SafetensorError as e:
    raise ValueError(f"{path}: not a readable .safetensors file ({e})") from e
  return out


def _is_torchscript(path):
  if not zipfile.is_zipfile(path):
    return False
  with zipfile.ZipFile(path) as z:
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in z.namelist())


def read_torch(path, keep=None):
  """{name: np.ndarray} of a PyTorch state dict file, read with torch.load(weights_only=True)
  (a {'state_dict': ...} wrapper and 'module.' prefixes taken off; floats as float32; the names
  in `keep(all names)`, all if None)."""
  if _is_torchscript(path):
    raise ValueError(
        f"{path} is a TorchScript archive (OpenAI's original ViT-*.pt files are), which "
        f"torch.load(weights_only=True) cannot read safely. Load it through open_clip and save "
        f"a state dict: model, _, _ = open_clip.create_model_and_transforms('ViT-L-14', "
        f"pretrained='openai'); torch.save(model.state_dict(), 'clip_vit_l14.pt') "
        f"(docs/pretrained.md)")
  try:
    import torch
  except ImportError as e:
    raise ValueError(f"{path}: reading a PyTorch checkpoint needs torch (pip install -c "
                     f"constraints.txt -e '.[deepfakebench]'), or give a .safetensors file") from e
  try:
    state = torch.load(str(path), map_location="cpu", weights_only=True)
  except Exception as e:  # noqa: BLE001 - torch raises many kinds for a file it cannot read
    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
    raise ValueError(f"{path}: not a PyTorch state dict that torch.load(weights_only=True) "
                     f"reads ({type(e).__name__}: {first[:200]})") from e
  while isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
    state = state["state_dict"]
  if not isinstance(state, Mapping):
    raise ValueError(f"{path}: holds a {type(state).__name__}, not a state dict")
  state = {
      (k[len("module."):] if k.startswith("module.") else k): v
      for k, v in state.items()
      if isinstance(v, torch.Tensor)
  }
  wanted = keep(list(state)) if keep else set(state)
  out = {}
  for k, v in state.items():
    if k in wanted:
      v = v.detach().cpu()
      out[k] = (v.float() if v.is_floating_point() else v).numpy()
  return out


def _read_index(index, keep):
  with open(index) as f:
    weight_map = json.load(f)["weight_map"]
  wanted = keep(list(weight_map)) if keep else set(weight_map)
  folder, out = os.path.dirname(index), {}
  for shard in sorted({weight_map[k] for k in wanted}):
    out.update(read_file(os.path.join(folder, shard), lambda names: wanted))
  return out


def read_file(path, keep=None):
  path = str(path)
  if path.endswith(".index.json"):
    return _read_index(path, keep)
  if path.endswith(".safetensors"):
    return read_safetensors(path, keep)
  if path.endswith(_TORCH_SUFFIXES):
    return read_torch(path, keep)
  raise ValueError(f"{path}: expected a .safetensors, .bin, .pt or .pth file, a "
                   f"*.index.json or a directory holding one of {', '.join(DIRECTORY_FILES)}")


def checkpoint_file(path):
  """The file to read for `path` (a directory: the first of DIRECTORY_FILES it holds)."""
  path = str(path)
  if os.path.isdir(path):
    for name in DIRECTORY_FILES:
      if os.path.exists(os.path.join(path, name)):
        return os.path.join(path, name)
    raise ValueError(f"{path}: a directory with none of {', '.join(DIRECTORY_FILES)}")
  if not os.path.exists(path):
    raise ValueError(f"{path}: no such file or directory (fetch the checkpoint first: "
                     f"docs/pretrained.md, CLIP towers)")
  return path


def find_tower(keys):
  """('transformers' | 'open_clip', tower prefix, projection key) of the CLIP image tower among
  a checkpoint's keys, or None."""
  keys = set(keys)
  for key in sorted(keys):
    if key.endswith(_HF_PATCH):
      tower = key[:-len(_HF_PATCH)]
      outer = tower[:-len("vision_model.")] if tower.endswith("vision_model.") else tower
      return "transformers", tower, outer + "visual_projection.weight"
  for key in sorted(keys):
    if key.endswith("conv1.weight"):
      tower = key[:-len("conv1.weight")]
      if tower + "class_embedding" in keys:
        return "open_clip", tower, tower + "proj"
  return None


def tower_keys(keys):
  """The keys of the image tower (all keys when none is recognised: the error shows them)."""
  found = find_tower(keys)
  if found is None:
    return set(keys)
  _, tower, proj = found
  return {k for k in keys if k.startswith(tower) or k == proj}


def read_checkpoint(path):
  """(file read, {name: np.ndarray}) of the image-tower tensors of a CLIP checkpoint (a text
  tower in the same file is not read)."""
  f = checkpoint_file(path)
  return f, read_file(f, keep=tower_keys)


# ----------------------------------------------------------------------------------------------
# Key layouts -> the ClipTower's params.


def _ln(module):
  return {"weight": (module, "scale"), "bias": (module, "bias")}


def _hf_tower(state, tower, proj):
  """[(Flax path, value, source key)] from a Hugging Face CLIP vision tower at prefix `tower`
  (its projection, if any, at key `proj`), and the tower keys not used."""
  out, unused = [], []
  simple = {
      "embeddings.class_embedding": ("class_embedding",),
      "embeddings.position_embedding.weight": ("position_embedding",),
      "embeddings.patch_embedding.weight": ("patch_embed", "kernel"),
  }
  for name in ("pre_layrnorm", "post_layernorm"):
    flax = {"pre_layrnorm": "ln_pre", "post_layernorm": "ln_post"}[name]
    simple[name + ".weight"], simple[name + ".bias"] = (flax, "scale"), (flax, "bias")
  block = re.compile(r"^encoder\.layers\.(\d+)\.(.+)\.(weight|bias)$")
  inner = {
      "self_attn.q_proj": ("attn", "q_proj"),
      "self_attn.k_proj": ("attn", "k_proj"),
      "self_attn.v_proj": ("attn", "v_proj"),
      "self_attn.out_proj": ("attn", "out_proj"),
      "layer_norm1": ("ln_1",),
      "layer_norm2": ("ln_2",),
      "mlp.fc1": ("c_fc",),
      "mlp.fc2": ("c_proj",),
  }
  for key, value in sorted(state.items()):
    if not key.startswith(tower):
      continue
    name = key[len(tower):]
    if name == "embeddings.position_ids":
      continue
    if name in simple:
      out.append((simple[name], _layout(simple[name], value), key))
      continue
    m = block.match(name)
    if m and m.group(2) in inner:
      module = ("encoder", f"blocks_{m.group(1)}") + inner[m.group(2)]
      leaf = {"bias": "bias", "weight": "scale" if "layer_norm" in m.group(2) else "kernel"}
      path = module + (leaf[m.group(3)],)
      out.append((path, _layout(path, value), key))
      continue
    unused.append(key)
  if proj in state:
    out.append((("proj", "kernel"), state[proj].T, proj))
  return out, unused


def _open_clip_tower(state, tower):
  """The same from an open_clip / OpenAI image tower at prefix `tower` ('visual.')."""
  out, unused = [], []
  simple = {
      "class_embedding": ("class_embedding",),
      "positional_embedding": ("position_embedding",),
      "conv1.weight": ("patch_embed", "kernel"),
      "proj": ("proj", "kernel"),
  }
  for name in ("ln_pre", "ln_post"):
    simple[name + ".weight"], simple[name + ".bias"] = (name, "scale"), (name, "bias")
  block = re.compile(r"^transformer\.resblocks\.(\d+)\.(.+)\.(weight|bias)$")
  inner = {
      "attn.out_proj": ("attn", "out_proj"),
      "ln_1": ("ln_1",),
      "ln_2": ("ln_2",),
      "mlp.c_fc": ("c_fc",),
      "mlp.c_proj": ("c_proj",),
  }
  fused = re.compile(r"^transformer\.resblocks\.(\d+)\.attn\.in_proj_(weight|bias)$")
  for key, value in sorted(state.items()):
    if not key.startswith(tower):
      continue
    name = key[len(tower):]
    if name == "proj":  # [width, embed]: already x @ proj, no transpose
      out.append((simple[name], value, key))
      continue
    if name in simple:
      out.append((simple[name], _layout(simple[name], value), key))
      continue
    m = fused.match(name)
    if m:
      leaf = "kernel" if m.group(2) == "weight" else "bias"
      for part, chunk in zip(("q_proj", "k_proj", "v_proj"), np.split(value, 3, axis=0)):
        path = ("encoder", f"blocks_{m.group(1)}", "attn", part, leaf)
        out.append((path, _layout(path, chunk), key))
      continue
    m = block.match(name)
    if m and m.group(2) in inner:
      module = ("encoder", f"blocks_{m.group(1)}") + inner[m.group(2)]
      leaf = {"bias": "bias", "weight": "scale" if m.group(2).startswith("ln") else "kernel"}
      path = module + (leaf[m.group(3)],)
      out.append((path, _layout(path, value), key))
      continue
    unused.append(key)
  return out, unused


def _layout(path, value):
  """A PyTorch tensor in the layout of the Flax leaf at `path`."""
  if path[-1] == "kernel" and value.ndim == 4:
    return value.transpose(2, 3, 1, 0)  # [O, I, h, w] -> [h, w, I, O]
  if path[-1] == "kernel" and value.ndim == 2:
    return value.T  # [out, in] -> [in, out]
  return value


def tower_params(state, path="checkpoint"):
  """(layout name, [(Flax path, value float32, source key)], unused tower keys) of a state dict
  holding one CLIP image tower."""
  found = find_tower(state)
  if found is None:
    if any(k.startswith("visual.trunk.") for k in state):
      raise ValueError(f"{path}: an open_clip model with a timm image tower (visual.trunk.*); "
                       f"only CLIP ViT towers (visual.conv1, visual.transformer) convert")
    raise ValueError(f"{path}: no CLIP image tower found: expected Hugging Face keys "
                     f"(vision_model.{_HF_PATCH}) or open_clip/OpenAI keys "
                     f"(visual.conv1.weight); the file has e.g. {sorted(state)[:6]}")
  layout, tower, proj = found
  if layout == "transformers":
    params, unused = _hf_tower(state, tower, proj)
  else:
    params, unused = _open_clip_tower(state, tower)
  return layout, _float32(params), unused


def _float32(found):
  return [(p, np.asarray(v, np.float32), k) for p, v, k in found]


# ----------------------------------------------------------------------------------------------
# Position embeddings.


def _bicubic_matrix(n_in, n_out):
  """[n_out, n_in] weights of PyTorch's 1-D bicubic interpolation (align_corners=False,
  A = -0.75, indices clamped at the borders, no antialiasing), exactly as F.interpolate."""
  a = -0.75
  near = lambda t: ((a + 2) * t - (a + 3)) * t * t + 1  # |t| <= 1
  far = lambda t: ((a * t - 5 * a) * t + 8 * a) * t - 4 * a  # 1 < |t| < 2
  m = np.zeros((n_out, n_in))
  for i in range(n_out):
    src = (i + 0.5) * n_in / n_out - 0.5
    f = int(np.floor(src))
    t = src - f
    for j, w in zip(range(f - 1, f + 3), (far(t + 1), near(t), near(1 - t), far(2 - t))):
      m[i, min(max(j, 0), n_in - 1)] += w
  return m


def resize_position_embedding(pos, n_tokens):
  """[1 + g*g, D] -> [n_tokens, D]: the class position kept, the g x g grid resized bicubically
  (PyTorch's F.interpolate, as transformers' interpolate_pos_encoding and open_clip do)."""
  pos = np.asarray(pos)
  if pos.shape[0] == n_tokens:
    return pos
  g, new = int(round((pos.shape[0] - 1)**0.5)), int(round((n_tokens - 1)**0.5))
  if pos.ndim != 2 or g * g + 1 != pos.shape[0] or new * new + 1 != n_tokens:
    raise ValueError(f"position embeddings {pos.shape} -> {n_tokens} tokens: expected a class "
                     f"token and a square grid")
  m = _bicubic_matrix(g, new)
  grid = pos[1:].reshape(g, g, -1).astype(np.float64)
  grid = np.einsum("ai,bj,ijd->abd", m, m, grid).reshape(new * new, -1)
  return np.concatenate([pos[:1], grid.astype(pos.dtype)], axis=0)


# ----------------------------------------------------------------------------------------------
# Into the model's variables.


def _subtree(tree, path):
  for p in path:
    tree = tree[p]
  return tree


def _set(tree, path, value):
  for p in path[:-1]:
    tree = tree.setdefault(p, {})
  tree[path[-1]] = value


def _plain_tower(tower):
  """{Flax path: shape} of the plain ClipTower of the same dims as `tower` (a tower tree whose
  attention projections an adapt function has changed, e.g. Effort's): the tree to fill before
  the adaptation."""
  import jax
  import jax.numpy as jnp
  from fakedetect_jax.models import clip
  width = tower["class_embedding"].shape[0]
  patch = tower["patch_embed"]["kernel"].shape[0]
  grid = int(round((tower["position_embedding"].shape[0] - 1)**0.5))
  depth = len(tower["encoder"])
  embed = tower["proj"]["kernel"].shape[1] if "proj" in tower else 1
  m = clip.ClipTower(width=width, depth=depth, heads=1, patch=patch, embed_dim=embed)
  x = jnp.zeros((1, grid * patch, grid * patch, 3))
  params = jax.eval_shape(lambda: m.init(jax.random.key(0), x))["params"]
  return {p: tuple(v.shape) for p, v in _flatten(params) if p[0] != "proj" or "proj" in tower}


def _adapt_kwargs(adapt, tower):
  """Keyword arguments of the adapt function that the target tree fixes: Effort's rank (the
  length of its S_residual)."""
  kwargs = {}
  if "rank" in inspect.signature(adapt).parameters:
    ranks = {tuple(v.shape)[0] for p, v in _flatten(tower) if p[-1] == "S_residual"}
    if len(ranks) == 1:
      kwargs["rank"] = ranks.pop()
  return kwargs


def convert_state_dict(model_name, state, variables, path="checkpoint"):
  """`variables` (params or {'params', ...}: the structure comes back) with the CLIP image
  tower of the state dict {key: array} filled in under the spec's prefix, then adapted."""
  import jax.numpy as jnp
  opts = options(model_name)
  prefix = tuple(opts.get("prefix", "tower").split("/"))
  adapt = opts.get("adapt")
  whole = isinstance(variables, Mapping) and "params" in variables
  out = {k: _copy(v) for k, v in (variables if whole else {"params": variables}).items()}
  try:
    target = _subtree(out["params"], prefix)
  except (KeyError, TypeError) as e:
    raise ValueError(f"{model_name}: no CLIP tower at params/{'/'.join(prefix)}") from e
  plain = _plain_tower(target) if adapt else {p: tuple(v.shape) for p, v in _flatten(target)}
  layout, found, unused = tower_params(state, path)
  where = "/".join(prefix)
  tree, filled = {}, set()
  for p, value, key in found:
    if p == ("proj", "kernel") and p not in plain:
      continue  # a model on the pooled class token: no projection
    if p not in plain:
      unused.append(key)
      continue
    if p == ("position_embedding",):
      value = resize_position_embedding(value, plain[p][0])
    if value.shape != plain[p]:
      raise ValueError(f"{path}: {key} (shape {tuple(state[key].shape)} in the file) -> "
                       f"{where}/{'/'.join(p)} {value.shape}, but {model_name} has {plain[p]} "
                       f"there (a checkpoint of another CLIP variant?)")
    _set(tree, p, value)
    filled.add(p)
  if unused:
    raise ValueError(f"{path}: {layout} image-tower keys with no counterpart in {model_name}'s "
                     f"ClipTower: {sorted(set(unused))[:8]} ({len(set(unused))} in all; a "
                     f"deeper variant, or one with layer scale or attention pooling?)")
  missing = [p for p in plain if p not in filled]
  if missing == [("proj", "kernel")]:
    raise ValueError(f"{path} has no visual projection (a CLIPVisionModel checkpoint?), and "
                     f"{model_name}'s head reads the projected image embedding: give a "
                     f"CLIPModel or CLIPVisionModelWithProjection (or open_clip) checkpoint")
  if missing:
    raise ValueError(f"{path}: the {layout} checkpoint lacks {len(missing)} tensors of "
                     f"{model_name}'s tower: {['/'.join(prefix + p) for p in missing[:8]]}")
  if adapt:
    staged = dict(out["params"])
    _set(staged, prefix, tree)
    tree = _subtree(
        adapt({
            **out, "params": staged
        }, **_adapt_kwargs(adapt, target))["params"], prefix)
  values = dict(_flatten(tree))
  missing = []
  for p, old in list(_flatten(target)):
    if p not in values:
      missing.append("/".join(p))
      continue
    value = values.pop(p)
    if tuple(np.shape(value)) != tuple(old.shape):
      raise ValueError(f"{path}: {where}/{'/'.join(p)} has shape {tuple(np.shape(value))} after "
                       f"conversion, {model_name} {tuple(old.shape)}")
    _set(target, p, jnp.asarray(value, old.dtype))
  if missing or values:
    raise ValueError(f"{model_name}: the converted tower does not match the model's: missing "
                     f"{missing[:8]}, extra {['/'.join(p) for p in list(values)[:8]]}")
  return out if whole else out["params"]


def convert(model_name, source, variables):
  """`variables` with the CLIP image tower of `source` (a file or a directory) filled in."""
  path, state = read_checkpoint(source)
  return convert_state_dict(model_name, state, variables, path)
