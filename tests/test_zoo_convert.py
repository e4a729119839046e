"""Pretrained-weight converters: a randomly initialised reference model, converted, gives the
same outputs as the reference (within 1e-4).

Keras path: the real Keras Applications models (Xception, EfficientNetB0, InceptionResNetV2)
with random weights and randomised batch-norm statistics. timm path: timm is not installed
(its torchvision dependency has no CPU wheel on PyPI to go with the CPU torch), so the reference
is a Keras model built the way timm builds ResNeXt / ViT (reduced widths), exported to a
.safetensors file (the `safetensors` package) under timm's key names and PyTorch layouts by
hand. CLIP checkpoints: tests/test_clip_convert.py.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from safetensors.numpy import save_file

import test_zoo_lib
from fakedetect_jax import models
from fakedetect_jax.models import pretrained
from fakedetect_jax.models.__main__ import abstract_variables, main as models_cli
from fakedetect_jax.models.layers import IMAGENET_MEAN, IMAGENET_STD

RNG = np.random.default_rng(0)


def _save(path, tensors, metadata=None):
  # safetensors.numpy 0.8.0 writes an array's memory as it lies: a transposed view would land
  # transposed, so every array is made C-contiguous first.
  save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, path, metadata=metadata)


def _randomize_keras(km):
  """Random batch-norm statistics (a fresh model has mean 0, variance 1: too easy), and the
  ImageNet input normalisation the Flax EfficientNet applies (Keras' ImageNet file holds it)."""
  for layer in km.layers:
    kind = type(layer).__name__
    if kind == "BatchNormalization":
      layer.moving_mean.assign(RNG.normal(0, 0.2, layer.moving_mean.shape).astype("float32"))
      var = layer.moving_variance
      var.assign(RNG.uniform(0.5, 2, var.shape).astype("float32"))
      if layer.gamma is not None:
        layer.gamma.assign(RNG.uniform(0.5, 1.5, layer.gamma.shape).astype("float32"))
      layer.beta.assign(RNG.normal(0, 0.2, layer.beta.shape).astype("float32"))
    elif kind == "Normalization" and layer.weights:  # adaptable (Keras EfficientNet)
      mean, var = layer.weights[0], layer.weights[1]
      mean.assign(np.reshape(IMAGENET_MEAN, mean.shape).astype("float32"))
      var.assign(np.reshape(np.square(IMAGENET_STD), var.shape).astype("float32"))
      layer.finalize_state()  # Keras computes with a copy taken here


def _flax_logits(name, variables, x, head):
  """Logits of the Flax model with a given head ([features] weights, no bias)."""
  v = {k: dict(variables[k]) for k in ("params", "batch_stats") if k in variables}
  v["params"]["head"] = {"logit": {"kernel": jnp.asarray(head[:, None]), "bias": jnp.zeros(1)}}
  model = models.get_model(name)
  forward = test_zoo_lib.compiled(jax.jit(lambda v, x: model.apply(v, x)), v, x)
  return np.asarray(forward(v, x))


# Sizes: Keras' own minimum (Xception 71, Inception-ResNet-v2 75); B0 at an odd size.
@pytest.mark.parametrize("name,size", [("xception", 71), ("efficientnet_b0", 33),
                                       ("inception_resnet_v2", 75)])
def test_keras_model_converts_to_the_same_outputs(name, size):
  import keras
  app = models.REGISTRY[name].converters["keras"]["app"]
  km = getattr(keras.applications, app)(
      include_top=False, weights=None, input_shape=(size, size, 3), pooling="avg")
  _randomize_keras(km)
  pixels = RNG.uniform(0, 255, (2, size, size, 3)).astype("float32")
  x = pixels / 127.5 - 1.0  # our input; Keras EfficientNet takes pixels, the others [-1, 1]
  features = np.asarray(km(pixels if app.startswith("Efficient") else x, training=False))
  head = RNG.normal(0, 1, features.shape[-1]).astype("float32")
  variables = pretrained.load_pretrained(name, km, abstract_variables(name, size))
  np.testing.assert_allclose(
      _flax_logits(name, variables, x, head), features @ head, atol=1e-4, rtol=1e-4)


def test_keras_weight_file_to_npz_to_a_run(tmp_path):
  """The user path: a Keras Applications .h5 file -> `convert` CLI -> .npz -> load_pretrained
  (the head keeps its own values), for B0 and for Cross Efficient ViT's two B0 trunks."""
  import h5py
  import keras
  from keras.src.legacy.saving import legacy_h5_format
  km = keras.applications.EfficientNetB0(
      include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg")
  _randomize_keras(km)
  h5 = tmp_path / "efficientnetb0_notop.h5"  # the format Keras Applications downloads
  with h5py.File(h5, "w") as f:
    legacy_h5_format.save_weights_to_hdf5_group(f, km)
  npz = tmp_path / "b0.npz"
  assert models_cli(["convert", "efficientnet_b0", str(h5), str(npz)]) == 0
  init = abstract_variables("efficientnet_b0", 32)
  init["params"]["head"] = {"logit": {"kernel": jnp.ones((1280, 1)), "bias": jnp.zeros(1)}}
  loaded = pretrained.load_pretrained("efficientnet_b0", str(npz), init)
  assert np.all(np.asarray(loaded["params"]["head"]["logit"]["kernel"]) == 1)
  pixels = RNG.uniform(0, 255, (2, 32, 32, 3)).astype("float32")
  head = RNG.normal(0, 1, 1280).astype("float32")
  np.testing.assert_allclose(
      _flax_logits("efficientnet_b0", loaded, pixels / 127.5 - 1, head),
      np.asarray(km(pixels)) @ head,
      atol=1e-4,
      rtol=1e-4)
  # params alone in, params alone out
  params = pretrained.load_pretrained("efficientnet_b0", str(npz), init["params"])
  assert set(params) == set(init["params"])
  # Under tracing (the train loop loads inside the jitted create_state): only shapes are read.
  model = models.get_model("efficientnet_b0")
  traced = jax.eval_shape(lambda: pretrained.load_pretrained(
      "efficientnet_b0", str(npz), model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))))
  assert traced["params"]["stem_conv"]["kernel"].shape == (3, 3, 3, 32)
  # Cross Efficient ViT: both trunks from the same B0 (the L trunk has only its first blocks).
  cross = pretrained.load_pretrained("cross_efficient_vit", str(h5),
                                     abstract_variables("cross_efficient_vit", 64))
  stem = km.get_layer("stem_conv").kernel.numpy()
  for trunk in ("sm_trunk", "lg_trunk"):
    np.testing.assert_array_equal(cross["params"][trunk]["stem_conv"]["kernel"], stem)
  assert "top_conv" in cross["params"]["sm_trunk"] and "top_conv" not in cross["params"]["lg_trunk"]


# ----------------------------------------------------------------------------------------------
# timm path. Keras references built like timm's models; exported with timm's names and layouts.


def _keras_resnext(size, layers, stem, groups, base_width):
  """timm's ResNeXt in Keras: torch-style symmetric padding, BN epsilon 1e-5. Returns the
  model (input [-1, 1], output pooled features) and a {timm key: array} export function."""
  import keras
  L = keras.layers
  inp = keras.Input((size, size, 3))
  x = L.Rescaling(0.5, offset=0.5)(inp)
  x = L.Normalization(mean=IMAGENET_MEAN, variance=np.square(IMAGENET_STD))(x)
  named = {}

  def conv(y, f, k, key, stride=1, g=1):
    if k > 1:
      y = L.ZeroPadding2D(k // 2)(y)
    named[key] = L.Conv2D(f, k, strides=stride, groups=g, use_bias=False)
    return named[key](y)

  def bn(y, key):
    named[key] = L.BatchNormalization(epsilon=1e-5)
    return named[key](y)

  x = L.ReLU()(bn(conv(x, stem, 7, "conv1", 2), "bn1"))
  x = L.MaxPooling2D(3, 2)(L.ZeroPadding2D(1)(x))  # zero padding = -inf padding after a ReLU
  for s, blocks in enumerate(layers):
    planes = stem * 2**s
    width, out = int(planes * base_width / 64) * groups, planes * 4
    for i in range(blocks):
      stride, p = (2 if s > 0 and i == 0 else 1), f"layer{s + 1}.{i}."
      y = L.ReLU()(bn(conv(x, width, 1, p + "conv1"), p + "bn1"))
      y = L.ReLU()(bn(conv(y, width, 3, p + "conv2", stride, groups), p + "bn2"))
      y = bn(conv(y, out, 1, p + "conv3"), p + "bn3")
      if stride != 1 or x.shape[-1] != out:
        x = bn(conv(x, out, 1, p + "downsample.0", stride), p + "downsample.1")
      x = L.ReLU()(L.Add()([x, y]))
  km = keras.Model(inp, L.GlobalAveragePooling2D()(x))
  _randomize_keras(km)

  def export():
    state = {"fc.weight": RNG.normal(size=(1000, x.shape[-1])), "fc.bias": np.zeros(1000)}
    for key, layer in named.items():
      if isinstance(layer, L.Conv2D):
        state[key + ".weight"] = layer.kernel.numpy().transpose(3, 2, 0, 1)
      else:
        state.update({
            key + ".weight": layer.gamma.numpy(),
            key + ".bias": layer.beta.numpy(),
            key + ".running_mean": layer.moving_mean.numpy(),
            key + ".running_var": layer.moving_variance.numpy(),
            key + ".num_batches_tracked": np.array(7, np.int64)
        })
    return {
        k: np.asarray(v, np.int64 if k.endswith("tracked") else np.float32)
        for k, v in state.items()
    }

  return km, export


def _keras_vit(size, dim, depth, heads, patch):
  """timm's ViT in Keras (pre-norm blocks, LayerNorm 1e-6, exact GELU, class token)."""
  import keras
  L = keras.layers
  n = (size // patch)**2

  class Tokens(L.Layer):

    def build(self, shape):
      self.cls = self.add_weight(shape=(1, 1, dim), initializer="random_normal")
      self.pos = self.add_weight(shape=(1, n + 1, dim), initializer="random_normal")

    def call(self, t):
      cls = keras.ops.broadcast_to(self.cls, (keras.ops.shape(t)[0], 1, dim))
      return keras.ops.concatenate([cls, t], axis=1) + self.pos

  inp = keras.Input((size, size, 3))
  embed = L.Conv2D(dim, patch, strides=patch)
  tokens = Tokens()
  x = tokens(L.Reshape((n, dim))(embed(inp)))
  blocks = []
  for _ in range(depth):
    b = dict(
        norm1=L.LayerNormalization(epsilon=1e-6),
        norm2=L.LayerNormalization(epsilon=1e-6),
        attn=L.MultiHeadAttention(heads, dim // heads),
        fc1=L.Dense(4 * dim, activation=lambda t: keras.activations.gelu(t, False)),
        fc2=L.Dense(dim))
    y = b["norm1"](x)
    x = x + b["attn"](y, y)
    x = x + b["fc2"](b["fc1"](b["norm2"](x)))
    blocks.append(b)
  norm = L.LayerNormalization(epsilon=1e-6)
  km = keras.Model(inp, norm(x)[:, 0])

  def export():
    ln = lambda key, layer: {
        key + ".weight": layer.gamma.numpy(),
        key + ".bias": layer.beta.numpy()
    }
    dense = lambda key, layer: {
        key + ".weight": layer.kernel.numpy().T,
        key + ".bias": layer.bias.numpy()
    }
    state = {
        "cls_token": tokens.cls.numpy(),
        "pos_embed": tokens.pos.numpy(),
        "patch_embed.proj.weight": embed.kernel.numpy().transpose(3, 2, 0, 1),
        "patch_embed.proj.bias": embed.bias.numpy(),
        **ln("norm", norm), "head.weight": RNG.normal(size=(1000, dim)),
        "head.bias": np.zeros(1000)
    }
    for i, b in enumerate(blocks):
      p, a = f"blocks.{i}.", b["attn"]
      # Keras keeps q, k, v projections [dim, heads, head_dim]; timm one fused [3*dim, dim].
      qkv = [getattr(a, f"_{t}_dense") for t in ("query", "key", "value")]
      state[p + "attn.qkv.weight"] = np.concatenate(
          [d.kernel.numpy().reshape(dim, -1).T for d in qkv])
      state[p + "attn.qkv.bias"] = np.concatenate([d.bias.numpy().reshape(-1) for d in qkv])
      out = a._output_dense
      state[p + "attn.proj.weight"] = out.kernel.numpy().reshape(-1, dim).T
      state[p + "attn.proj.bias"] = out.bias.numpy()
      state.update({
          **ln(p + "norm1", b["norm1"]),
          **ln(p + "norm2", b["norm2"]),
          **dense(p + "mlp.fc1", b["fc1"]),
          **dense(p + "mlp.fc2", b["fc2"])
      })
    return {k: np.asarray(v, np.float32) for k, v in state.items()}

  return km, export


@pytest.mark.parametrize("name", ["resnext50_32x4d", "vit_s16"])
def test_timm_safetensors_convert_to_the_same_outputs(name, tmp_path):
  if name == "resnext50_32x4d":
    arch = dict(layers=(2, 1), stem=16, groups=4, base_width=16)
    size, (km, export) = 32, _keras_resnext(32, **arch)
  else:
    arch = dict(dim=32, depth=2, heads=2, patch=8)
    size, (km, export) = 32, _keras_vit(32, **arch)
  path = tmp_path / "model.safetensors"
  _save(path, export(), metadata={"format": "pt"})
  model = models.get_model(name, **arch)
  init = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, size, size, 3))))
  init = {k: init[k] for k in ("params", "batch_stats") if k in init}
  variables = pretrained.load_pretrained(name, str(path), init)
  x = RNG.uniform(-1, 1, (2, size, size, 3)).astype("float32")
  features = np.asarray(km(x, training=False))
  head = RNG.normal(0, 1, features.shape[-1]).astype("float32")
  variables["params"]["head"] = {
      "logit": {
          "kernel": jnp.asarray(head[:, None]),
          "bias": jnp.zeros(1)
      }
  }
  forward = test_zoo_lib.compiled(jax.jit(lambda v, x: model.apply(v, x)), variables, x)
  out = np.asarray(forward(variables, x))
  np.testing.assert_allclose(out, features @ head, atol=1e-4, rtol=1e-4)


def test_vit_position_embeddings_follow_the_input_size(tmp_path):
  """Weights of a 2x2-patch-grid ViT load into a 3x3-grid one: the grid is resized."""
  _, export = _keras_vit(32, 32, 1, 2, 16)
  state = export()
  path = tmp_path / "vit.safetensors"
  _save(path, state)
  model = models.get_model("vit_s16", dim=32, depth=1, heads=2)
  init = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 48, 48, 3))))
  params = pretrained.load_pretrained("vit_s16", str(path), init["params"])
  pos = np.asarray(params["tokens"]["pos_embed"])
  assert pos.shape == (1, 10, 32)
  np.testing.assert_array_equal(pos[:, 0], state["pos_embed"][:, 0])  # the class position


def test_foreign_and_broken_safetensors_files_are_refused(tmp_path):
  foreign = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, 2], np.int64)}
  _save(tmp_path / "t.safetensors", foreign)
  with pytest.raises(ValueError, match="no Flax counterpart"):
    pretrained.load_pretrained("vit_s16", str(tmp_path / "t.safetensors"),
                               abstract_variables("vit_s16", 32))
  broken = tmp_path / "broken.safetensors"
  broken.write_bytes((tmp_path / "t.safetensors").read_bytes()[:-5])  # cut short
  with pytest.raises(ValueError, match="broken.safetensors: not a readable .safetensors file"):
    pretrained.load_pretrained("vit_s16", str(broken), abstract_variables("vit_s16", 32))
  with pytest.raises(ValueError, match="cannot load"):
    pretrained.load_pretrained("conv_vit", "weights.bin", {})
  with pytest.raises(ValueError, match="cannot load"):  # a Keras model takes no .safetensors
    pretrained.load_pretrained("xception", str(tmp_path / "t.safetensors"), {})
