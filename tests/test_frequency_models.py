"""The frequency detectors (spsl, srm, f3net) and TALL's thumbnails, against independent references.

Parameter counts: PyTorch models with DeepfakeBench's module names and layer lists
(tests/deepfakebench_torch), full size, counted by torch; ours by jax.eval_shape (nothing
computed). F3Net's FAD against scipy's orthonormal DCT and the PyTorch FAD_Head, and a
DeepfakeBench f3net checkpoint imported into our model against PyTorch's forward pass. TALL's
thumbnails against a numpy tiling and DeepfakeBench's rearrange + bilinear resize in torch.
Models are shrunk where they compute; no training here.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.fft
import torch

import frames_fixture
import test_zoo_lib
from conftest import REPO
from deepfakebench_torch import f3net as f3net_torch
from deepfakebench_torch import fake_logit, save
from deepfakebench_torch import randomize as randomize_all
from deepfakebench_torch import srm as srm_torch
from deepfakebench_torch.xception import SpslDetector

from fakedetect_jax import models
from fakedetect_jax.models import deepfakebench, f3net, pretrained, tall
from fakedetect_jax.models.__main__ import abstract_variables, count
from fakedetect_jax.train.step import preprocess

SHRUNK = dict(width=1 / 16, middle_blocks=2)


def _torch_counts(net, unused):
  """(trainable parameters, batch-norm running statistics) of a torch model, without the
  modules under the `unused` prefixes."""
  keep = lambda name: not any(name.startswith(p + ".") for p in unused)
  trainable = sum(p.numel() for n, p in net.named_parameters() if p.requires_grad and keep(n))
  stats = sum(b.numel()
              for n, b in net.named_buffers()
              if n.endswith(("running_mean", "running_var")) and keep(n))
  return trainable, stats


# name: (DeepfakeBench's detector at 256 px, what its test-time forward never runs, the path of
# its 2-class classifier, our parameter count at 256 px)
FULL = {
    "spsl": (SpslDetector, ("backbone.adjust_channel",), "backbone.last_linear", 20_809_289),
    "srm": (srm_torch.SRMDetector, ("backbone_rgb.adjust_channel", "backbone_srm.adjust_channel",
                                    "backbone_srm.last_linear"), "backbone_rgb.last_linear",
            53_236_331),
    "f3net": (f3net_torch.F3netDetector, ("backbone.adjust_channel",), "backbone.last_linear",
              21_073_737),
}


@pytest.mark.parametrize("name", sorted(FULL))
def test_parameter_count_equals_deepfakebench(name):
  """Trainable parameters: DeepfakeBench's (fixed SRM kernels, DCT matrices and base bands are
  requires_grad=False there, constants here), without what its forward pass does not use
  (adjust_channel, SRM's second classifier), its 2-class head [2, C] + 2 being our one logit
  C + 1. Batch-norm statistics: the same tensors."""
  cls, unused, head, ours = FULL[name]
  net = cls()
  trainable, stats = _torch_counts(net, unused)
  features = net.get_submodule(head).in_features
  v = abstract_variables(name, 256)
  assert count(v["params"]) == trainable - (2 * features + 2) + (features + 1) == ours
  assert count(v["batch_stats"]) == stats


def test_f3net_has_only_the_learnable_bands_besides_xception():
  v = abstract_variables("f3net", 64)["params"]
  fad = jax.tree_util.tree_flatten_with_path(v["fad_head"])[0]
  assert [(jax.tree_util.keystr(p), x.shape) for p, x in fad
         ] == [(f"['filters_{i}']['learnable']", (64, 64)) for i in range(4)]
  x = abstract_variables("xception", 64)["params"]
  # The backbone is Xception with a 12-channel first conv: 9 more input channels of 3x3x32.
  assert count(v["backbone"]) == count(x) + 9 * 3 * 3 * 32
  assert v["backbone"]["block1_conv1"]["kernel"].shape == (3, 3, 12, 32)


def _reference_fad(images, learnable):
  """scipy's orthonormal 2-D DCT-II per channel, times each band's filter (1 where start <= u + v
  <= end, DeepfakeBench's bands of side n, plus 2 sigmoid(w) - 1), inverse DCT; bands
  concatenated band-major ([B, n, n, 4C])."""
  n = images.shape[1]
  freq = scipy.fft.dctn(images.astype(np.float64), type=2, norm="ortho", axes=(1, 2))
  out = []
  for k, (start, end) in enumerate([(0, n // 2.82), (n // 2.82, n // 2), (n // 2, 2 * n),
                                    (0, 2 * n)]):
    base = np.array([[1.0 if start <= u + v <= end else 0.0 for v in range(n)] for u in range(n)])
    filt = base + 2.0 / (1.0 + np.exp(-learnable[k].astype(np.float64))) - 1.0
    out.append(scipy.fft.idctn(freq * filt[None, :, :, None], type=2, norm="ortho", axes=(1, 2)))
  return np.concatenate(out, axis=-1)


def test_fad_equals_a_scipy_dct_reference_and_deepfakebench_fad_head():
  rng = np.random.default_rng(0)
  n = 20  # bands u + v in [0, 7], [7, 10], [10, 40], [0, 40]
  images = rng.uniform(-1, 1, (2, n, n, 3)).astype(np.float32)
  learnable = rng.normal(0, 0.5, (4, n, n)).astype(np.float32)
  head = f3net.FADHead()
  params = {"params": {f"filters_{i}": {"learnable": learnable[i]} for i in range(4)}}
  assert jax.tree.structure(params) == jax.tree.structure(
      jax.eval_shape(head.init, jax.random.key(0), images))
  ours = np.asarray(head.apply(params, images))
  want = _reference_fad(images, learnable)
  assert ours.shape == (2, n, n, 12) and ours.dtype == np.float32
  np.testing.assert_allclose(ours, want, atol=2e-5)
  # The 'all' band with zero learnable parts (filter 1 everywhere) gives the image back.
  zero = {"params": {f"filters_{i}": {"learnable": np.zeros((n, n), np.float32)} for i in range(4)}}
  np.testing.assert_allclose(np.asarray(head.apply(zero, images))[..., 9:], images, atol=2e-5)
  # DeepfakeBench's FAD_Head (NCHW) with the same learnable parts.
  ref = f3net_torch.FADHead(n)
  with torch.no_grad():
    for i, f in enumerate(ref.filters):
      f.learnable.copy_(torch.from_numpy(learnable[i]))
    got = ref(torch.from_numpy(images).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
  np.testing.assert_allclose(ours, got, atol=2e-5)


def _crops(size=256):
  rng = np.random.default_rng(0)
  return np.concatenate([frames_fixture.face_frames(1, size, fake, rng) for fake in (0, 1)])


def test_f3net_import_gives_deepfakebench_logits(tmp_path):
  torch.set_num_threads(1)
  images = _crops()
  net = f3net_torch.randomize(f3net_torch.F3netDetector(256, **SHRUNK), seed=3)
  layer = net.backbone.last_linear
  with torch.no_grad():  # fake logits of a few units, not hundreds (an absolute tolerance)
    s = 3.0 / float(np.abs(fake_logit(net, images)).max())
    layer.weight.mul_(s)
    layer.bias.mul_(s)
  path = save(net, tmp_path / "f3net.pth", data_parallel=True)
  detector, variables = deepfakebench.load(str(path), "f3net", model_kwargs=SHRUNK)
  model = models.get_model(detector.model, **detector.model_kwargs)
  apply = jax.jit(
      lambda v, x: model.apply(v, preprocess(x), train=False, mutable=["intermediates"]))
  ours, state = apply(variables, images)
  np.testing.assert_allclose(np.asarray(ours), fake_logit(net, images), atol=1e-4, rtol=1e-4)
  with torch.no_grad():
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    ref_map = net.cam_map(x).permute(0, 2, 3, 1).numpy()
  got = np.asarray(state["intermediates"]["cam_features"][0])
  assert got.shape == ref_map.shape and np.std(ref_map) > 0.05
  assert np.abs(got - ref_map).max() / np.std(ref_map) < 1e-3


def _tampered_dct():
  state = f3net_torch.randomize(f3net_torch.F3netDetector(256, **SHRUNK)).state_dict()
  state["FAD_head._DCT_all"] = state["FAD_head._DCT_all"].flip(0)
  return state


@pytest.mark.parametrize("make, key", [
    (lambda: randomize_all(SpslDetector(**SHRUNK)).state_dict(), "'backbone.conv1.weight'"),
    (_tampered_dct, "'FAD_head._DCT_all'"),
])
def test_a_foreign_checkpoint_is_not_f3net(tmp_path, make, key):
  path = tmp_path / "other.pth"
  torch.save(make(), path)
  with pytest.raises(deepfakebench.CheckpointError) as e:
    deepfakebench.load(str(path), "f3net", model_kwargs=SHRUNK)
  assert "\n" not in str(e.value) and str(path) in str(e.value) and key in str(e.value)


def _random_arrays(abstract, seed=0):
  rng = np.random.default_rng(seed)
  return jax.tree.map(lambda s: rng.normal(size=s.shape).astype(np.float32), abstract)


def test_imagenet_npz_spreads_xception_conv1_over_the_fad_channels(tmp_path):
  small = dict(width=1 / 16, middle_blocks=1)
  x = _random_arrays(abstract_variables("xception", 32, **small))
  del x["params"]["head"]  # a converted file has no head
  pretrained.save_npz(tmp_path / "x.npz", "xception", x)
  assert f3net.imagenet_npz(tmp_path / "x.npz", tmp_path / "f3.npz") == len(jax.tree.leaves(x))
  target = abstract_variables("f3net", 32, **small)
  got = pretrained.load_pretrained("f3net", str(tmp_path / "f3.npz"), target)
  conv1 = x["params"]["block1_conv1"]["kernel"]
  np.testing.assert_allclose(got["params"]["backbone"]["block1_conv1"]["kernel"],
                             np.concatenate([conv1 / 4] * 4, axis=2))
  np.testing.assert_array_equal(got["batch_stats"]["backbone"]["block14_sepconv2_bn"]["var"],
                                x["batch_stats"]["block14_sepconv2_bn"]["var"])
  # The head and the learnable bands keep the model's own (here: still shapes).
  assert isinstance(got["params"]["fad_head"]["filters_0"]["learnable"], jax.ShapeDtypeStruct)
  assert isinstance(got["params"]["backbone"]["head"]["logit"]["kernel"], jax.ShapeDtypeStruct)


# TALL


def _numpy_thumbnails(frames):
  """[B, T, H, W, C] -> [B, ceil(T / 4), H, W, C]: frames 4g .. 4g + 3 (missing ones zero),
  each averaged over 2x2 pixel blocks, frame k at rows (k // 2) H/2 ..., columns (k % 2) W/2 ..."""
  b, t, h, w, c = frames.shape
  g = -(-t // 4)
  out = np.zeros((b, g, h, w, c), np.float64)
  for i in range(b):
    for j in range(g):
      for k in range(4):
        if 4 * j + k >= t:
          continue
        f = frames[i, 4 * j + k].astype(np.float64)
        small = np.array([[f[2 * y:2 * y + 2, 2 * x:2 * x + 2].mean((0, 1))
                           for x in range(w // 2)]
                          for y in range(h // 2)])
        r, col = k // 2, k % 2
        out[i, j, r * h // 2:(r + 1) * h // 2, col * w // 2:(col + 1) * w // 2] = small
  return out


def _deepfakebench_thumbnail(clip):
  """DeepfakeBench's TALL on one clip of 4 frames [4, H, W, C]: the frames' channels stacked,
  einops' 'b (th tw c) h w -> b c (th h) (tw w)' (th = 2) by reshapes, then the bilinear resize
  of the 2H x 2W image to H x W (align_corners=False)."""
  t, h, w, c = clip.shape
  x = torch.from_numpy(clip).permute(0, 3, 1, 2).reshape(1, t * c, h, w)
  x = x.reshape(1, 2, 2, c, h, w).permute(0, 3, 1, 4, 2, 5).reshape(1, c, 2 * h, 2 * w)
  x = torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
  return x[0].permute(1, 2, 0).numpy()


def test_tall_thumbnails_put_each_frame_where_the_paper_says():
  rng = np.random.default_rng(1)
  frames = rng.uniform(-1, 1, (2, 6, 8, 10, 3)).astype(np.float32)  # 6 frames: 2 thumbnails
  got = np.asarray(tall.thumbnails(jnp.asarray(frames)))
  assert got.shape == (2, 2, 8, 10, 3)
  np.testing.assert_allclose(got, _numpy_thumbnails(frames), atol=1e-6)
  np.testing.assert_allclose(got[1, 0], _deepfakebench_thumbnail(frames[1, :4]), atol=1e-6)
  assert np.all(got[:, 1, 4:] == 0)  # frames 6 and 7 of the second sub-clip: zero padding
  # One frame lit up lands in its own quadrant only, row by row: frame 1 at row 0, column 1.
  one = np.zeros((1, 4, 8, 8, 3), np.float32)
  one[0, 1] = 1.0
  t = np.asarray(tall.thumbnails(jnp.asarray(one)))[0, 0, ..., 0]
  assert t[:4, 4:].min() == 1.0 and t[4:].max() == 0.0 and t[:, :4].max() == 0.0


def test_tall_cutout_masks_one_square_at_the_same_place_in_a_sub_clips_frames():
  groups = jnp.ones((3, 2, 4, 32, 32, 3))
  out = np.asarray(tall.cutout(groups, jax.random.key(0), 8))
  masked = out == -1.0
  assert np.all(out[~masked] == 1.0)
  for b in range(3):
    for g in range(2):
      m = masked[b, g]
      assert all(np.array_equal(m[0], m[k]) for k in range(4))  # every frame the same
      ys, xs = np.nonzero(m[0, ..., 0])
      assert 0 < len(ys) <= 64 and np.all(m[0, ..., 0] == m[0, ..., 2])
      # a solid rectangle of at most 8 x 8 (clipped at the frame's edges)
      assert len(ys) == (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
      assert ys.max() - ys.min() < 8 and xs.max() - xs.min() < 8
  assert not np.array_equal(masked[0, 0], masked[1, 0])  # positions differ between sub-clips


TINY_B0 = (("width", 0.25), ("depth", 0.3), ("stages", 3), ("drop_connect", 0.0))


def test_tall_gives_one_logit_per_clip_the_mean_of_its_thumbnails():
  model = models.get_model("tall", backbone_kwargs=TINY_B0, dropout=0.0)
  rng = np.random.default_rng(2)
  frames = rng.uniform(-1, 1, (2, 8, 32, 32, 3)).astype(np.float32)
  x = {"frames": frames, "face_found": np.ones((2, 8), np.uint8)}

  def run(x):
    v = model.init(jax.random.key(0), x, train=False)
    logits = model.apply(v, x, train=False)
    train_logits, _ = model.apply(
        v, x, train=True, mutable=["batch_stats"], rngs={"dropout": jax.random.key(1)})
    backbone = models.get_model("efficientnet_b0", dropout=0.0, **dict(TINY_B0))
    per_thumbnail = backbone.apply(
        {
            "params": v["params"]["backbone"],
            "batch_stats": v["batch_stats"]["backbone"]
        },
        tall.thumbnails(x["frames"]).reshape(4, 32, 32, 3),
        train=False)
    return logits, train_logits, per_thumbnail

  logits, train_logits, per_thumbnail = test_zoo_lib.compiled(jax.jit(run), x)(x)
  assert logits.shape == train_logits.shape == (2,) and logits.dtype == jnp.float32
  assert np.all(np.isfinite(logits)) and np.all(np.isfinite(train_logits))
  np.testing.assert_allclose(logits, np.asarray(per_thumbnail).reshape(2, 2).mean(1), rtol=1e-5)


def test_tall_refuses_what_it_cannot_run():
  x = {"frames": jnp.zeros((1, 4, 32, 32, 3))}
  for kwargs, message in ((dict(backbone="conv3d"), "must be a frame model"),
                          (dict(backbone="inception_resnet_v2"), "below the smallest input")):
    with pytest.raises(ValueError, match=message):
      jax.eval_shape(lambda: models.get_model("tall", **kwargs).init(jax.random.key(0), x))


def test_backbone_npz_nests_a_frame_model_under_backbone(tmp_path):
  b0 = _random_arrays(abstract_variables("efficientnet_b0", 32, **dict(TINY_B0)))
  del b0["params"]["head"]
  pretrained.save_npz(tmp_path / "b0.npz", "efficientnet_b0", b0)
  tall.backbone_npz(tmp_path / "b0.npz", tmp_path / "tall.npz")
  model = models.get_model("tall", backbone_kwargs=TINY_B0)
  target = jax.eval_shape(
      lambda: model.init(jax.random.key(0), {"frames": jnp.zeros((1, 4, 32, 32, 3))}, train=False))
  got = pretrained.load_pretrained("tall", str(tmp_path / "tall.npz"),
                                   {k: target[k] for k in ("params", "batch_stats")})
  flat = lambda tree: {
      jax.tree_util.keystr(p): x for p, x in jax.tree_util.tree_leaves_with_path(tree)
  }
  have = flat({k: got[k]["backbone"] for k in b0})
  for key, want in flat(b0).items():
    np.testing.assert_array_equal(have[key], want, err_msg=key)
  assert isinstance(got["params"]["backbone"]["head"]["logit"]["kernel"], jax.ShapeDtypeStruct)


# Configs


def _config(file, arg):
  import importlib.util
  import os
  spec = importlib.util.spec_from_file_location("c", os.path.join(REPO, "configs", file))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


@pytest.mark.parametrize("file", ["spsl.py", "srm.py", "f3net.py", "tall.py"])
def test_configs_take_pretrained_and_runlocal(file):
  full = _config(file, "pretrained=w.npz")
  assert full.pretrained == "w.npz" and full.model.name == file[:-3]
  assert full.data.image_size == models.REGISTRY[full.model.name].default_size
  local = _config(file, "pretrained=w.npz,runlocal=true")
  assert local.pretrained == "w.npz" and local.total_steps == 2 and local.batch_size == 8
  assert local.data.image_size == 32 and local.data.config == "tiny"
  model = models.from_config(local)
  assert model.dtype == jnp.float32
  if file == "tall.py":
    assert full.data.view == local.data.view == "clips"
    assert full.data.clip_len == 16 and local.data.clip_len == 4
    assert full.data.label_key == "video_label" and model.backbone == "efficientnet_b0"
    assert _config(file, "dataset=ffpp,data_config=c23").data.label_key == "label"
  else:
    assert full.data.view == "frames"
  if file == "f3net.py":
    assert full.model.dropout == 0.5 and full.optimizer.learning_rate == 2e-4
