"""Model zoo: registry and CLI, parameter counts against Keras Applications, output shapes of
every full model (by jax.eval_shape: nothing computed), and each family training on the 8
simulated devices until it fits a tiny batch of real and blended faces."""
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import test_zoo_lib
from conftest import REPO
from fakedetect_jax import models
from fakedetect_jax.models.__main__ import abstract_variables, count

ZOO = [
    "xception", *[f"efficientnet_b{i}" for i in range(8)], "efficientnet_b4_att", "resnext50_32x4d",
    "inception_resnet_v2", "vit_s16", "vit_b16", "cross_efficient_vit", "conv_vit", "spsl", "srm",
    "ucf"
]
# The models that are a Keras Applications network plus our head (B4Att: B4 + its attention
# conv, checked with B4; Cross Efficient ViT only takes B0 into its trunks).
KERAS = {
    n: s.converters["keras"]["app"] for n, s in models.REGISTRY.items() if
    "keras" in s.converters and "prefixes" not in s.converters["keras"] and not n.endswith("_att")
}


def test_the_zoo_is_registered_and_listed():
  out = subprocess.run([sys.executable, "-m", "fakedetect_jax.models"],
                       cwd=REPO,
                       capture_output=True,
                       text=True,
                       check=True).stdout.split()
  assert set(ZOO) <= set(out) == set(models.names())


def test_summary_ends_with_the_trainable_count():
  out = subprocess.run([sys.executable, "-m", "fakedetect_jax.models", "summary", "xception"],
                       cwd=REPO,
                       capture_output=True,
                       text=True,
                       check=True).stdout
  assert out.strip().splitlines()[-1] == "trainable_params: 20809001"


@pytest.mark.parametrize("name", sorted(KERAS))
def test_parameter_count_equals_keras(name):
  """Keras' include_top=False, pooling='avg' backbone + our one-logit head.

  Trainable: Keras' trainable weights + the head (features + 1). Non-trainable: our batch-norm
  running statistics = Keras' non-trainable weights, except that Keras EfficientNet also counts
  the 7 numbers of its input Normalization layer (mean, variance, count), which are constants
  in the Flax model.
  """
  import keras
  size = 75 if name == "inception_resnet_v2" else 71 if name == "xception" else 32
  km = getattr(keras.applications, KERAS[name])(
      include_top=False, weights=None, input_shape=(size, size, 3), pooling="avg")
  trainable = sum(int(np.prod(w.shape)) for w in km.trainable_weights)
  frozen = sum(int(np.prod(w.shape)) for w in km.non_trainable_weights)
  features = km.output_shape[-1]
  v = abstract_variables(name, models.REGISTRY[name].default_size)
  assert count(v["params"]) == trainable + features + 1
  assert count(v["batch_stats"]) == frozen - (7 if name.startswith("efficientnet") else 0)
  if name == "efficientnet_b4":  # B4Att = B4 + a 1x1 conv (56 -> 1, with bias)
    att = abstract_variables("efficientnet_b4_att", 224)
    assert count(att["params"]) == count(v["params"]) + 57


def test_parameter_counts_of_timm_models():
  """No Keras model here; timm's published counts without their 1000-class classifier."""
  timm = {
      "resnext50_32x4d": (25_028_904, 2048),
      "vit_s16": (22_050_664, 384),
      "vit_b16": (86_567_656, 768)
  }
  for name, (total, features) in timm.items():
    v = abstract_variables(name, 224)
    assert count(v["params"]) == total - 1000 * (features + 1) + features + 1, name


# One of each family: B1-B7 differ from B0 only in coefficients (their counts are checked).
@pytest.mark.parametrize("name", [
    "xception", "efficientnet_b0", "efficientnet_b4_att", "resnext50_32x4d", "inception_resnet_v2",
    "vit_s16", "vit_b16", "cross_efficient_vit", "conv_vit", "spsl", "srm", "ucf"
])
def test_full_models_map_images_to_one_logit(name):
  spec = models.REGISTRY[name]
  size = 48 if name.startswith("vit") else max(32, spec.min_size)  # ViTs: 3x3 patches of 16
  model = models.get_model(name, dtype=jnp.bfloat16)
  x = jnp.zeros((2, size, size, 3))
  v = jax.eval_shape(lambda: model.init(jax.random.key(0), x[:1]))
  v = {k: v[k] for k in ("params", "batch_stats") if k in v}
  out, state = jax.eval_shape(
      lambda v: model.apply(
          v,
          x,
          train=True,
          mutable=["batch_stats", "intermediates"],
          rngs={"dropout": jax.random.key(1)}), v)
  assert out.shape == (2,) and out.dtype == jnp.float32
  assert jax.tree.structure(state.get("batch_stats",
                                      {})) == jax.tree.structure(v.get("batch_stats", {}))
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(v["params"]))
  # What the spec's explainer reads: the Grad-CAM feature map (CNNs), attention weights
  # (transformers; the hybrids have a CNN feature map too, the ViTs do not).
  sown = {
      str(getattr(k, "key", k))
      for path, _ in jax.tree_util.tree_flatten_with_path(state["intermediates"])[0]
      for k in path
  }
  assert ("cam_features" in sown) == (not name.startswith("vit"))
  assert ("attention" in sown) == (spec.explainer == "rollout")


# B0-B7 run the same code with other coefficients; B4Att runs it plus the attention map. SPSL,
# SRM and the other detectors of issue 15 train for 20 steps on the embedded dataset in
# tests/test_new_detectors_train.py, and their forward passes are checked against PyTorch's
# (tests/test_deepfakebench_import.py, tests/test_frequency_models.py).
@pytest.mark.parametrize("name", [
    "xception", "efficientnet_b4_att", "resnext50_32x4d", "inception_resnet_v2", "vit_s16",
    "cross_efficient_vit", "conv_vit"
])
def test_each_family_fits_a_tiny_batch_on_8_devices(name):
  assert jax.device_count() == 8
  model, size = test_zoo_lib.tiny_model(name, dropout=0.0)
  images, labels = test_zoo_lib.faces(size)
  steps = 40 if name == "vit_s16" else 25 if name == "conv_vit" else 12
  _, losses, accuracy = test_zoo_lib.train(model, images, labels, steps)
  assert np.isfinite(losses).all()
  assert losses[-1] < 0.2 < losses[0]
  assert accuracy[-1] == 1.0


@pytest.mark.parametrize("config_arg", [
    "xception.py:size=64", "efficientnet.py:variant=b0", "efficientnet.py:variant=b4_att,sbi=0.5",
    "resnext.py", "inception_resnet_v2.py:robust=0.1", "vit.py:variant=b16",
    "vit.py:variant=cross_efficient_vit", "vit.py:variant=conv_vit,pretrained=w.npz", "spsl.py",
    "srm.py:size=64,sbi=0.5"
])
def test_configs_build_their_model_the_way_the_train_loop_does(config_arg):
  import importlib.util
  import os
  from fakedetect_jax.input import augment
  file, _, arg = config_arg.partition(":")
  spec = importlib.util.spec_from_file_location("zoo_config", os.path.join(REPO, "configs", file))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config(arg)
  model = models.from_config(c)  # as train/loop.py builds it
  assert model.dropout == c.model.dropout and model.dtype == jnp.dtype(c.compute_dtype)
  assert c.data.image_size >= models.REGISTRY[c.model.name].min_size
  assert c.pretrained == ("w.npz" if "pretrained" in arg else "")
  assert c.augment.sbi == (0.5 if "sbi" in arg else 0.0)
  assert c.augment.jpeg == (0.1 if "robust" in arg else 0.0)
  images = test_zoo_lib.faces(32, n_per_class=1)[0]
  out, _ = augment.apply_augmentations(images, np.array([0, 1]), np.random.default_rng(0),
                                       c.augment)
  assert out.shape == images.shape


@pytest.mark.parametrize("kind,k,stride,size", [("depthwise", 3, 1, 8), ("depthwise", 5, 2, 9),
                                                ("depthwise", 3, 2, 8), ("grouped", 3, 1, 8),
                                                ("grouped", 3, 2, 9)])
def test_own_convolutions_equal_xla_grouped_conv_with_gradients(kind, k, stride, size):
  """layers.DepthwiseConv (shifted sums, own kernel gradient) and layers.GroupedConv (own kernel
  gradient) against nn.Conv with feature_group_count, padding and strides included."""
  import flax.linen as nn
  from fakedetect_jax.models.layers import DepthwiseConv, GroupedConv
  rng = np.random.default_rng(0)
  c, groups = (6, 6) if kind == "depthwise" else (8, 4)
  x = jnp.asarray(rng.normal(size=(2, size, size, c)), jnp.float32)
  if kind == "depthwise":
    ours, padding = DepthwiseConv(k, stride), "SAME"
  else:
    padding = [(k // 2, k // 2)] * 2
    ours = GroupedConv(c, k, stride, groups, padding=tuple(padding))
  ref = nn.Conv(
      c, (k, k), strides=stride, padding=padding, feature_group_count=groups, use_bias=False)
  v = {"params": {"kernel": jnp.asarray(rng.normal(size=(k, k, c // groups, c)), jnp.float32)}}
  grads = lambda m: jax.jit(
      jax.value_and_grad(lambda v, x: jnp.sum(jnp.sin(m.apply(v, x))), argnums=(0, 1)))(v, x)
  (value, ours_grads), (expected, ref_grads) = grads(ours), grads(ref)
  np.testing.assert_allclose(value, expected, rtol=1e-5)
  for a, b in zip(jax.tree.leaves(ours_grads), jax.tree.leaves(ref_grads)):
    np.testing.assert_allclose(a, b, atol=1e-4)
