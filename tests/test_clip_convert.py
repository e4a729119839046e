"""CLIP image-tower conversion (models/clip_convert.py) against the PyTorch originals.

Hugging Face: a tiny `transformers` CLIPVisionModelWithProjection (random weights, nothing
downloaded) saved as the hub does (save_pretrained: model.safetensors) and as a
pytorch_model.bin; the converted tower's pooled output and image embedding equal transformers'
pooler_output and image_embeds within 1e-4. open_clip: open_clip_torch cannot be installed
usably here (it needs torchvision, whose PyPI wheels are built against the CUDA torch, not the
CPU torch the project pins: `import torchvision` fails), so the reference is a tiny torch module
written below with open_clip's key layout and computation (OpenAI's CLIP: nn.MultiheadAttention
with the fused in_proj, QuickGELU, ln_post then the class token, `x @ proj`). Effort converted
from the Hugging Face file equals the plain tower on the pooled class token within 1e-5.
"""
import collections
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from fakedetect_jax import models
from fakedetect_jax.models import clip, clip_convert, pretrained
from fakedetect_jax.models import __main__ as models_main

TINY = dict(width=32, depth=2, heads=4, patch=8, embed_dim=16)
SIZE = 32
RNG = np.random.default_rng(0)
TOWER = clip.ClipTower(**TINY)
_tower = jax.jit(lambda p, x: TOWER.apply({"params": p}, x))


def _randomize(module, seed=0):
  """Random weights everywhere (LayerNorm scales around 1): a fresh init is too easy."""
  g = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for name, p in module.named_parameters():
      noise = torch.randn(p.shape, generator=g) * 0.2
      is_scale = p.ndim == 1 and name.endswith("weight") and ("norm" in name or "ln_" in name)
      p.copy_(noise + 1.0 if is_scale else noise)
  return module.eval()


def _hf_config(**kw):
  from transformers import CLIPVisionConfig
  return CLIPVisionConfig(
      **{
          "hidden_size": 32,
          "intermediate_size": 128,
          "num_hidden_layers": 2,
          "num_attention_heads": 4,
          "patch_size": 8,
          "image_size": SIZE,
          "projection_dim": 16,
          **kw
      })


def _pixels(x):
  """transformers' pixel_values of our [-1, 1] NHWC images: CLIP-normalised, NCHW."""
  x01 = (x + 1.0) / 2.0
  norm = (x01 - np.asarray(clip.CLIP_MEAN, np.float32)) / np.asarray(clip.CLIP_STD, np.float32)
  return torch.from_numpy(norm.transpose(0, 3, 1, 2).astype(np.float32))


def _abstract(name, size=SIZE, **kw):
  model = models.get_model(name, **{**TINY, **kw})
  v = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, size, size, 3))))
  return model, {"params": v["params"]}


def _images(n=2, size=SIZE):
  return RNG.uniform(-1, 1, (n, size, size, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
  """A tiny CLIPVisionModelWithProjection and its files: {'model', 'dir', 'safetensors', 'bin',
  'sharded' (save_pretrained's shards and their model.safetensors.index.json)}."""
  from transformers import CLIPVisionModelWithProjection
  torch.manual_seed(0)
  model = _randomize(CLIPVisionModelWithProjection(_hf_config()))
  d = tmp_path_factory.mktemp("hf") / "clip-tiny"
  model.save_pretrained(d)  # model.safetensors + config.json, as on the hub
  binary = d.parent / "pytorch_model.bin"
  torch.save(model.state_dict(), binary)
  sharded = d.parent / "sharded"
  model.save_pretrained(sharded, max_shard_size="20KB")
  assert len(list(sharded.glob("model-*.safetensors"))) > 1
  return {
      "model": model,
      "dir": d,
      "safetensors": d / "model.safetensors",
      "bin": binary,
      "sharded": sharded
  }


def _hf_reference(model, x, **kw):
  with torch.no_grad():
    pixels = _pixels(x)
    pooled = model.vision_model(pixel_values=pixels, **kw).pooler_output
    embeds = model(pixel_values=pixels, **kw).image_embeds
  return pooled.numpy(), embeds.numpy()


@pytest.mark.parametrize("source", ["dir", "safetensors", "bin", "sharded"])
def test_transformers_checkpoint_converts_to_the_same_tower(hf, source):
  _, variables = _abstract("clip_vit_b16")
  head = {"kernel": jnp.full((16, 1), 0.5), "bias": jnp.ones(1)}
  variables["params"]["head"] = head
  out = pretrained.load_pretrained("clip_vit_b16", str(hf[source]), variables)
  assert out["params"]["head"] is head or np.all(out["params"]["head"]["kernel"] == 0.5)
  x = _images()
  pooled, embedding = _tower(out["params"]["tower"], x)
  ref_pooled, ref_embeds = _hf_reference(hf["model"], x)
  np.testing.assert_allclose(np.asarray(pooled), ref_pooled, atol=1e-4, rtol=1e-4)
  np.testing.assert_allclose(np.asarray(embedding), ref_embeds, atol=1e-4, rtol=1e-4)


def test_a_whole_clip_model_file_converts_its_image_tower(tmp_path):
  """CLIPModel (text tower, logit_scale, text_projection in the file too): the image tower."""
  from transformers import CLIPConfig, CLIPModel
  text = dict(
      hidden_size=16,
      intermediate_size=32,
      num_hidden_layers=1,
      num_attention_heads=2,
      vocab_size=50,
      bos_token_id=0,
      eos_token_id=1,
      pad_token_id=1)
  config = CLIPConfig(text_config=text, vision_config=_hf_config().to_dict(), projection_dim=16)
  model = _randomize(CLIPModel(config), seed=2)
  model.save_pretrained(tmp_path)
  out = pretrained.load_pretrained("clip_vit_b16", str(tmp_path), _abstract("clip_vit_b16")[1])
  x = _images()
  with torch.no_grad():
    ref = model.get_image_features(pixel_values=_pixels(x))
  ref = getattr(ref, "pooler_output", ref)  # a tensor, or an output object holding it
  np.testing.assert_allclose(
      np.asarray(_tower(out["params"]["tower"], x)[1]), ref.numpy(), atol=1e-4, rtol=1e-4)


class _QuickGELU(torch.nn.Module):

  def forward(self, x):
    return x * torch.sigmoid(1.702 * x)


class _Block(torch.nn.Module):
  """open_clip's ResidualAttentionBlock as OpenAI's CLIP uses it."""

  def __init__(self, width, heads):
    super().__init__()
    self.ln_1 = torch.nn.LayerNorm(width)
    self.attn = torch.nn.MultiheadAttention(width, heads, batch_first=True)
    self.ln_2 = torch.nn.LayerNorm(width)
    self.mlp = torch.nn.Sequential(
        collections.OrderedDict([("c_fc", torch.nn.Linear(width, 4 * width)),
                                 ("gelu", _QuickGELU()),
                                 ("c_proj", torch.nn.Linear(4 * width, width))]))

  def forward(self, x):
    y = self.ln_1(x)
    x = x + self.attn(y, y, y, need_weights=False)[0]
    return x + self.mlp(self.ln_2(x))


class _Transformer(torch.nn.Module):

  def __init__(self, width, layers, heads):
    super().__init__()
    self.resblocks = torch.nn.ModuleList([_Block(width, heads) for _ in range(layers)])

  def forward(self, x):
    for block in self.resblocks:
      x = block(x)
    return x


class _Visual(torch.nn.Module):
  """open_clip's VisionTransformer (learned positions, class-token pooling, no layer scale)."""

  def __init__(self, width=32, layers=2, heads=4, patch=8, size=SIZE, embed=16):
    super().__init__()
    self.conv1 = torch.nn.Conv2d(3, width, patch, stride=patch, bias=False)
    self.class_embedding = torch.nn.Parameter(torch.zeros(width))
    self.positional_embedding = torch.nn.Parameter(torch.zeros((size // patch)**2 + 1, width))
    self.ln_pre = torch.nn.LayerNorm(width)
    self.transformer = _Transformer(width, layers, heads)
    self.ln_post = torch.nn.LayerNorm(width)
    self.proj = torch.nn.Parameter(torch.zeros(width, embed))

  def forward(self, x):
    x = self.conv1(x).flatten(2).permute(0, 2, 1)
    cls = self.class_embedding.expand(x.shape[0], 1, -1)
    x = self.ln_pre(torch.cat([cls, x], dim=1) + self.positional_embedding)
    pooled = self.ln_post(self.transformer(x))[:, 0]
    return pooled, pooled @ self.proj


class _OpenClip(torch.nn.Module):
  """A CLIP model's keys as open_clip (and OpenAI) name them: visual.* and a text tower."""

  def __init__(self):
    super().__init__()
    self.visual = _Visual()
    self.token_embedding = torch.nn.Embedding(50, 16)
    self.positional_embedding = torch.nn.Parameter(torch.zeros(8, 16))
    self.transformer = _Transformer(16, 1, 2)
    self.ln_final = torch.nn.LayerNorm(16)
    self.text_projection = torch.nn.Parameter(torch.zeros(16, 16))
    self.logit_scale = torch.nn.Parameter(torch.ones([]))


@pytest.mark.parametrize("fmt", ["pt", "safetensors_dir"])
def test_open_clip_state_dict_converts_to_the_same_tower(fmt, tmp_path):
  model = _randomize(_OpenClip(), seed=1)
  state = model.state_dict()
  assert "visual.transformer.resblocks.0.attn.in_proj_weight" in state  # open_clip's layout
  if fmt == "pt":
    path = tmp_path / "open_clip_vit.pt"
    torch.save(state, path)
  else:  # an open_clip hub folder
    path = tmp_path
    save_file({k: v.contiguous() for k, v in state.items()}, path / "open_clip_model.safetensors")
  _, variables = _abstract("clip_vit_b16")
  out = pretrained.load_pretrained("clip_vit_b16", str(path), variables)
  x = _images()
  pooled, embedding = _tower(out["params"]["tower"], x)
  with torch.no_grad():
    ref_pooled, ref_embeds = model.visual(_pixels(x))
  np.testing.assert_allclose(np.asarray(pooled), ref_pooled.numpy(), atol=1e-4, rtol=1e-4)
  np.testing.assert_allclose(np.asarray(embedding), ref_embeds.numpy(), atol=1e-4, rtol=1e-4)


def test_effort_from_the_transformers_file_equals_the_clip_tower(hf, tmp_path):
  """Effort's SVD split changes nothing at the start: its logits equal a plain CLIP detector's
  on the pooled class token with the same head; the converted .npz loads back the same."""
  plain_model, plain = _abstract("clip_vit_b16", features="pooled")
  effort_model, effort = _abstract("effort", rank=2)
  head = {"kernel": jnp.asarray(RNG.normal(0, 1, (32, 1)), jnp.float32), "bias": jnp.ones(1)}
  plain = pretrained.load_pretrained("clip_vit_b16", str(hf["safetensors"]), plain)
  effort = pretrained.convert("effort", str(hf["safetensors"]), effort)
  plain["params"]["head"] = effort["params"]["head"] = head
  q = effort["params"]["tower"]["encoder"]["blocks_1"]["attn"]["q_proj"]
  assert q["U_residual"].shape == (32, 2) and "kernel" not in q
  x = _images()
  want = np.asarray(jax.jit(plain_model.apply)(plain, x))
  got = np.asarray(jax.jit(effort_model.apply)(effort, x))
  np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
  # .npz round trip (the CLI's save_npz; the head, still abstract there, is not written).
  npz = tmp_path / "effort.npz"
  pretrained.save_npz(npz, "effort", effort)
  fresh = _abstract("effort", rank=2)[1]
  fresh["params"]["head"] = head
  back = pretrained.load_pretrained("effort", str(npz), fresh)
  for p, v in jax.tree_util.tree_leaves_with_path(effort["params"]["tower"]):
    w = back["params"]["tower"]
    for k in p:
      w = w[k.key]
    np.testing.assert_array_equal(np.asarray(w), np.asarray(v))


def test_cli_converts_for_the_clip_models(hf, tmp_path, monkeypatch):
  """`convert effort <snapshot dir> out.npz`: the spec picks the CLIP converter (the CLI's
  full-size variables swapped for tiny ones), and a config's pretrained= then loads it."""
  monkeypatch.setattr(models_main, "abstract_variables",
                      lambda name, size: _abstract(name, size)[1])
  for name in ("effort", "univfd"):
    out = tmp_path / f"{name}.npz"
    assert models_main.main(["convert", name, str(hf["dir"]), str(out), "--size", "32"]) == 0
    loaded = pretrained.load_pretrained(name, str(out), _abstract(name)[1])
    assert loaded["params"]["tower"]["class_embedding"].shape == (32,)
  with np.load(tmp_path / "effort.npz") as f:
    assert "params/tower/encoder/blocks_0/attn/q_proj/weight_main" in f.files
    assert not any(k.startswith("params/head") for k in f.files)
  # Errors: one line, exit 2 (a file of another variant, a file that is no checkpoint).
  monkeypatch.setattr(models_main, "abstract_variables",
                      lambda name, size: _abstract(name, size, width=64)[1])
  assert models_main.main(["convert", "clip_vit_b16", str(hf["bin"]), str(out)]) == 2
  (tmp_path / "junk.bin").write_bytes(b"not a checkpoint at all")
  assert models_main.main(["convert", "clip_vit_b16", str(tmp_path / "junk.bin"), str(out)]) == 2


def test_position_embeddings_follow_the_input_size(hf, tmp_path):
  """A 32 px (4x4 grid) checkpoint at 48 px (6x6): resized as transformers'
  interpolate_pos_encoding does, directly and through an .npz converted at 32 px."""
  _, variables = _abstract("clip_vit_b16", size=48)
  out = pretrained.load_pretrained("clip_vit_b16", str(hf["safetensors"]), variables)
  assert out["params"]["tower"]["position_embedding"].shape == (37, 32)
  x = _images(size=48)
  pooled, embedding = jax.jit(lambda p, x: TOWER.apply({"params": p}, x))(out["params"]["tower"], x)
  ref_pooled, ref_embeds = _hf_reference(hf["model"], x, interpolate_pos_encoding=True)
  np.testing.assert_allclose(np.asarray(pooled), ref_pooled, atol=1e-4, rtol=1e-4)
  np.testing.assert_allclose(np.asarray(embedding), ref_embeds, atol=1e-4, rtol=1e-4)
  npz = tmp_path / "clip32.npz"
  pretrained.save_npz(
      npz, "clip_vit_b16",
      pretrained.convert("clip_vit_b16", str(hf["bin"]),
                         _abstract("clip_vit_b16")[1]))
  again = pretrained.load_pretrained("clip_vit_b16", str(npz), variables)
  np.testing.assert_allclose(
      np.asarray(again["params"]["tower"]["position_embedding"]),
      np.asarray(out["params"]["tower"]["position_embedding"]),
      atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "f16"])
def test_half_precision_files(hf, tmp_path, dtype):
  state = {k: v.to(dtype) for k, v in hf["model"].state_dict().items()}
  save_file(state, tmp_path / "model.safetensors")
  out = clip_convert.convert("clip_vit_b16", str(tmp_path), _abstract("clip_vit_b16")[1])
  want = state["vision_model.embeddings.patch_embedding.weight"].float().numpy()
  np.testing.assert_array_equal(out["params"]["tower"]["patch_embed"]["kernel"],
                                want.transpose(2, 3, 1, 0))
  assert out["params"]["tower"]["patch_embed"]["kernel"].dtype == jnp.float32


def test_vision_model_without_projection(tmp_path):
  """A CLIPVisionModel file (no visual projection): refused where the head reads the image
  embedding; Effort, on the pooled token, has no projection and takes it."""
  from transformers import CLIPVisionModel
  path = tmp_path / "vision"
  _randomize(CLIPVisionModel(_hf_config())).save_pretrained(path)
  with pytest.raises(ValueError, match="no visual projection.*univfd"):
    clip_convert.convert("univfd", str(path), _abstract("univfd")[1])
  out = clip_convert.convert("effort", str(path), _abstract("effort")[1])
  assert "proj" not in out["params"]["tower"]


def test_refused_checkpoints(hf, tmp_path):
  state = hf["model"].state_dict()
  # Another variant: one line with the file, the key and both shapes.
  with pytest.raises(ValueError) as e:
    clip_convert.convert("clip_vit_b16", str(hf["safetensors"]),
                         _abstract("clip_vit_b16", width=48, heads=4)[1])
  msg = str(e.value)
  assert "\n" not in msg and str(hf["safetensors"]) in msg
  assert "vision_model.embeddings.class_embedding (shape (32,) in the file)" in msg
  assert "clip_vit_b16 has (48,)" in msg
  # A deeper checkpoint than the model, and a shallower one.
  with pytest.raises(ValueError, match=r"no counterpart.*encoder\.layers\.1\."):
    clip_convert.convert("clip_vit_b16", str(hf["bin"]), _abstract("clip_vit_b16", depth=1)[1])
  with pytest.raises(ValueError, match=r"lacks \d+ tensors.*blocks_2"):
    clip_convert.convert("clip_vit_b16", str(hf["bin"]), _abstract("clip_vit_b16", depth=3)[1])
  # Missing tensors.
  cut = {k: v for k, v in state.items() if "layers.1.layer_norm2" not in k}
  torch.save(cut, tmp_path / "cut.pth")
  with pytest.raises(ValueError, match=r"lacks 2 tensors.*blocks_1/ln_2/(scale|bias)"):
    clip_convert.convert("clip_vit_b16", str(tmp_path / "cut.pth"), _abstract("clip_vit_b16")[1])
  # OpenAI's TorchScript archives, garbage, no CLIP tower at all, nothing there.
  with warnings.catch_warnings():  # torch.jit is deprecated; OpenAI's files still are that
    warnings.simplefilter("ignore", DeprecationWarning)
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), tmp_path / "ViT-L-14.pt")
  with pytest.raises(ValueError, match="TorchScript.*open_clip"):
    clip_convert.convert("clip_vit_b16", str(tmp_path / "ViT-L-14.pt"), {})
  (tmp_path / "junk.bin").write_bytes(b"not a checkpoint at all")
  with pytest.raises(ValueError, match="junk.bin: not a PyTorch state dict"):
    clip_convert.convert("clip_vit_b16", str(tmp_path / "junk.bin"), {})
  (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
  with pytest.raises(ValueError, match="junk.safetensors: not a readable .safetensors"):
    pretrained.load_pretrained("clip_vit_b16", str(tmp_path / "junk.safetensors"), {})
  save_file({"blocks.0.norm1.weight": torch.ones(4)}, tmp_path / "timm.safetensors")
  with pytest.raises(ValueError, match="no CLIP image tower"):
    clip_convert.convert("clip_vit_b16", str(tmp_path / "timm.safetensors"),
                         _abstract("clip_vit_b16")[1])
  (tmp_path / "empty").mkdir()
  with pytest.raises(ValueError, match="a directory with none of model.safetensors"):
    clip_convert.convert("clip_vit_b16", str(tmp_path / "empty"), {})
  with pytest.raises(ValueError, match="no such file"):
    clip_convert.convert("clip_vit_b16", "openai/clip-vit-large-patch14", {})
