"""DeepfakeBench detector checkpoints imported into our models give DeepfakeBench's fake logits.

Each case: a PyTorch model with DeepfakeBench's module names (tests/deepfakebench_torch, written
here from its layer lists), random weights, saved as its trainer saves them (with and without
DataParallel's 'module.'), imported by models.deepfakebench.load into our Flax model and run on
the same face crops (uint8, DeepfakeBench's mean/std 0.5 normalisation, which is our [-1, 1]).
Deep random nets pool to nearly the same logit for every input, so the map our model marks for
Grad-CAM is compared too (there a wrong padding or layout shows), and the reference's 2-class
head is rescaled so its fake logits are a few units, not hundreds (the same change on both
sides: the checkpoint is saved after it).

Models are shrunk (narrower, fewer middle blocks; DeepfakeBench's names kept) so a case runs in
seconds; the importer takes the same shrinking as our model's kwargs. Inputs are 256 px, the
size DeepfakeBench runs at (SRM's cross-modal attention is built for its 16 px maps there).
"""
import os

import jax
import numpy as np
import pytest
import torch

import frames_fixture
from deepfakebench_torch import Wrapped, fake_logit, randomize, save
from deepfakebench_torch import srm as srm_torch
from deepfakebench_torch.meso import Meso4
from deepfakebench_torch.ucf import UCFDetector
from deepfakebench_torch.xception import SpslDetector, XceptionDetector

from fakedetect_jax import models
from fakedetect_jax.models import deepfakebench
from fakedetect_jax.train.step import preprocess

SHRUNK = dict(width=1 / 16, middle_blocks=2)

# name: (PyTorch detector, its kwargs, randomize, its 2-class layer, our model's kwargs)
CASES = {
    "xception": (XceptionDetector, SHRUNK, randomize, "backbone.last_linear", SHRUNK),
    "spsl": (SpslDetector, SHRUNK, randomize, "backbone.last_linear", SHRUNK),
    "srm": (srm_torch.SRMDetector, SHRUNK, srm_torch.randomize, "backbone_rgb.last_linear", SHRUNK),
    "ucf": (UCFDetector, SHRUNK, randomize, "head_sha.mlp.2", SHRUNK),
}


def _crops(size=256):
  """Two face crops of a real photo, one real and one with a blended face (frames_fixture)."""
  rng = np.random.default_rng(0)
  return np.concatenate([frames_fixture.face_frames(1, size, fake, rng) for fake in (0, 1)])


def _torch_input(images):
  return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def _calibrated(net, head, images):
  """`net` with its 2-class layer scaled so the largest fake logit of `images` is 3 (random
  deep nets give hundreds, which would make an absolute tolerance meaningless)."""
  s = 3.0 / float(np.abs(fake_logit(net, images)).max())
  layer = net.get_submodule(head)
  with torch.no_grad():
    layer.weight.mul_(s)
    layer.bias.mul_(s)
  return net


@pytest.mark.parametrize("name", sorted(CASES))
def test_import_gives_deepfakebench_logits(tmp_path, name):
  torch.set_num_threads(1)
  cls, torch_kw, randomize_fn, head, our_kw = CASES[name]
  images = _crops()
  net = _calibrated(randomize_fn(cls(**torch_kw), seed=3), head, images)
  imported = []
  for data_parallel in (False, True):
    path = save(net, tmp_path / f"{name}_{data_parallel}.pth", data_parallel=data_parallel)
    imported.append(deepfakebench.load(str(path), name, model_kwargs=our_kw))
  (detector, variables), (_, again) = imported
  for a, b in zip(*(sorted(_flat(v).items()) for v in (variables, again))):
    assert a[0] == b[0] and np.array_equal(a[1], b[1])
  model = models.get_model(detector.model, **detector.model_kwargs)
  # One compiled forward pass: op by op, a deep net dispatches thousands of small ops.
  apply = jax.jit(
      lambda v, x: model.apply(v, preprocess(x), train=False, mutable=["intermediates"]))
  ours, state = apply(variables, images)
  want = fake_logit(net, images)
  np.testing.assert_allclose(np.asarray(ours), want, atol=1e-4, rtol=1e-4)
  if hasattr(net, "cam_map"):
    with torch.no_grad():
      ref_map = net.cam_map(_torch_input(images)).permute(0, 2, 3, 1).numpy()
    got = np.asarray(state["intermediates"]["cam_features"][0])
    assert got.shape == ref_map.shape and np.std(ref_map) > 0.05
    # Relative to the map's spread: float32 rounding through a deep random net is ~1e-5 of it,
    # a shifted pooling window or a swapped layout O(1).
    assert np.abs(got - ref_map).max() / np.std(ref_map) < 1e-3


def _flat(tree, prefix=""):
  out = {}
  for k, v in tree.items():
    if isinstance(v, dict):
      out.update(_flat(v, f"{prefix}{k}/"))
    else:
      out[prefix + k] = np.asarray(v)
  return out


def _state(cls, **kw):
  return randomize(cls(**kw)).state_dict()


def _tampered_srm():
  state = srm_torch.randomize(srm_torch.SRMDetector(**SHRUNK)).state_dict()
  state["srm_conv0.kernel"] = state["srm_conv0.kernel"] * 2
  return state


def _with_extra():
  state = _state(XceptionDetector, **SHRUNK)
  state["backbone.extra.weight"] = torch.zeros(3)
  return state


# (the saved checkpoint, the detector it is imported as, the key the error must name); imported
# into our shrunk models except Meso4's (its first conv would fit a shrunk Xception's).
FOREIGN = {
    "meso4_as_xception":
        (lambda: Wrapped(Meso4()).state_dict(), "xception", "'backbone.conv1.weight'"),
    "xception_as_srm":
        (lambda: _state(XceptionDetector, **SHRUNK), "srm", "'backbone_rgb.conv1.weight'"),
    "spsl_as_xception":
        (lambda: _state(SpslDetector, **SHRUNK), "xception", "'backbone.conv1.weight'"),
    "ucf_as_xception":
        (lambda: _state(UCFDetector, **SHRUNK), "xception", "'backbone.conv1.weight'"),
    "deeper_xception": (lambda: _state(XceptionDetector, width=1 / 16, middle_blocks=3), "xception",
                        "'backbone.block6.rep.1.conv1.weight'"),
    "extra_tensor": (_with_extra, "xception", "'backbone.extra.weight'"),
    "srm_filters_changed": (_tampered_srm, "srm", "'srm_conv0.kernel'"),
}


@pytest.mark.parametrize("case", sorted(FOREIGN))
def test_a_foreign_checkpoint_names_the_file_and_the_first_key_that_does_not_fit(tmp_path, case):
  make, name, key = FOREIGN[case]
  kwargs = None if case.startswith("meso4") else SHRUNK
  path = tmp_path / f"{case}.pth"
  torch.save(make(), path)
  with pytest.raises(deepfakebench.CheckpointError) as e:
    deepfakebench.load(str(path), name, model_kwargs=kwargs)
  text = str(e.value)
  assert "\n" not in text and str(path) in text and key in text, text


def test_a_corrupt_file_is_one_line_naming_it(tmp_path):
  bad = tmp_path / "corrupt.pth"
  bad.write_bytes(os.urandom(4000))
  for name in sorted(CASES):
    with pytest.raises(deepfakebench.CheckpointError) as e:
      deepfakebench.load(str(bad), name)
    assert str(bad) in str(e.value) and "\n" not in str(e.value)
