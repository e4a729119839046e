"""DeepfakeBench checkpoints of the MesoNets and EfficientNet-B4 imported into our models, and an
imported checkpoint used as a run: predict --crops and evaluate score what PyTorch scores.

The PyTorch models (tests/deepfakebench_torch) carry DeepfakeBench's module names and get random
weights, saved as its trainer saves them; the references run DeepfakeBench's own test-time path
(cv2 read, bicubic resize to 256, mean/std 0.5, softmax[:, 1])."""
import io
import json
import os
from contextlib import redirect_stdout

import cv2
import jax
import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from deepfakebench_torch import Wrapped, fake_logit, randomize, save
from deepfakebench_torch.efficientnet import EfficientNetB4
from deepfakebench_torch.meso import Meso4, MesoInception4

from fakedetect_jax import models
from fakedetect_jax.models import deepfakebench
from fakedetect_jax.train.step import preprocess

# name: (PyTorch class, its kwargs, our model's kwargs, saved under DataParallel's 'module.')
CASES = {
    "meso4": (Meso4, {}, {}, False),
    "meso4Inception": (MesoInception4, {}, {}, True),
    # B4's block structure and paddings (one block a stage), narrower, names unchanged: for speed.
    "efficientnetb4": (EfficientNetB4, dict(width=0.5, depth=0.5), dict(width=0.5,
                                                                        depth=0.5), True),
}


def _crops(n, size=256, seed=0):
  """Face-like crops: a smooth random field plus texture (pure noise pools to near-constant
  features, which would hide a wrong padding)."""
  rng = np.random.default_rng(seed)
  low = rng.uniform(0, 255, (n, 8, 8, 3)).astype(np.float32)
  out = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_CUBIC) for im in low])
  return np.clip(out + rng.normal(0, 20, out.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", sorted(CASES))
def test_import_gives_deepfakebench_logits(tmp_path, name):
  cls, torch_kw, our_kw, data_parallel = CASES[name]
  net = randomize(Wrapped(cls(**torch_kw)), seed=3)
  path = save(net, tmp_path / f"{name}.pth", data_parallel=data_parallel)
  detector, variables = deepfakebench.load(str(path), name, model_kwargs=our_kw)
  model = models.get_model(detector.model, **detector.model_kwargs)
  images = _crops(3)
  # One compiled forward pass (op by op, a deep net dispatches thousands of small ops).
  apply = jax.jit(
      lambda v, x: model.apply(v, preprocess(x), train=False, mutable=["intermediates"]))
  ours, inter = apply(variables, images)
  np.testing.assert_allclose(np.asarray(ours), fake_logit(net, images), atol=1e-4, rtol=1e-4)
  if hasattr(net.backbone, "features"):
    # Deep random nets pool to nearly the same logit for every input, so the last feature map
    # (where a wrong padding or layout shows) is compared too.
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    with torch.no_grad():
      want = net.backbone.features(x).permute(0, 2, 3, 1).numpy()
    got = np.asarray(inter["intermediates"]["cam_features"][0])
    assert np.std(want) > 0.05
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


def test_a_checkpoint_of_another_detector_names_the_first_key_that_does_not_fit(tmp_path):
  path = save(randomize(Wrapped(MesoInception4())), tmp_path / "inception.pth")
  with pytest.raises(deepfakebench.CheckpointError) as e:
    deepfakebench.load(str(path), "meso4")
  text = str(e.value)
  assert "\n" not in text and str(path) in text and "'backbone.conv1.weight'" in text
  # Extra tensors the detector does not have are named too (here: a Meso4 with one more).
  state = randomize(Wrapped(Meso4())).state_dict()
  state["backbone.extra.weight"] = torch.zeros(3)
  torch.save(state, tmp_path / "extra.pth")
  with pytest.raises(deepfakebench.CheckpointError, match="'backbone.extra.weight' does not fit"):
    deepfakebench.load(str(tmp_path / "extra.pth"), "meso4")


def test_a_corrupt_file_is_one_line_naming_it(tmp_path):
  bad = tmp_path / "corrupt.pth"
  bad.write_bytes(os.urandom(4000))
  with pytest.raises(deepfakebench.CheckpointError) as e:
    deepfakebench.load(str(bad), "meso4")
  assert str(bad) in str(e.value) and "\n" not in str(e.value)


def _dfb_probability(net, paths):
  """DeepfakeBench's test-time path for frame files: cv2 read, RGB, bicubic to 256, model."""
  images = []
  for p in paths:
    rgb = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
    images.append(cv2.resize(rgb, (256, 256), interpolation=cv2.INTER_CUBIC))
  return 1 / (1 + np.exp(-fake_logit(net, np.stack(images))))


@pytest.fixture(scope="module")
def imported_meso(tmp_path_factory):
  """A Meso4 checkpoint whose head is shifted so the crops below fall on both sides of 0.5,
  imported through the command line; (torch net, run dir, crop folder)."""
  from fakedetect_jax.models.__main__ import main as models_main
  tmp = tmp_path_factory.mktemp("dfb_run")
  net = randomize(Wrapped(Meso4()), seed=5)
  crops = tmp / "crops"
  crops.mkdir()
  for i, im in enumerate(_crops(6, size=200, seed=1)):  # not 256: predict must resize
    cv2.imwrite(str(crops / f"frame_{i}.png"), cv2.cvtColor(im, cv2.COLOR_RGB2BGR))
  files = sorted(crops.glob("*.png"))
  logits = np.log(_dfb_probability(net, files)) - np.log1p(-_dfb_probability(net, files))
  with torch.no_grad():
    net.backbone.fc2.bias[1] -= float(np.median(logits))
  ckpt = save(net, tmp / "ckpt_best.pth", data_parallel=True)
  assert models_main(
      ["import-deepfakebench",
       str(ckpt), "--detector=meso4", f"--out={tmp / 'run'}"]) == 0
  return net, tmp / "run", crops


def test_predict_crops_gives_deepfakebench_probabilities_and_verdicts(imported_meso):
  from fakedetect_jax.predict.__main__ import main as predict_main
  net, run, crops = imported_meso
  (crops / "broken.png").write_bytes(b"not an image")
  out = io.StringIO()
  with redirect_stdout(out):
    code = predict_main(["--crops", str(crops), f"--detector={run}", "--format=json"])
  assert code == 2  # one unreadable file; the others are still scored
  rows = json.loads(out.getvalue())
  bad = [r for r in rows if not r["ok"]]
  assert len(bad) == 1 and "broken.png" in bad[0]["error"]
  good = [r for r in rows if r["ok"]]
  want = _dfb_probability(net, [r["file"] for r in good])
  got = np.array([r["fake_probability"] for r in good])
  np.testing.assert_allclose(got, want, atol=1e-4)
  verdicts = [r["verdict"] for r in good]
  assert verdicts == ["fake" if p >= 0.5 else "real" for p in want]
  assert {"fake", "real"} <= set(verdicts)
  provenance = json.loads((run / "imported.json").read_text())
  assert provenance["detector"] == "meso4" and len(provenance["sha256"]) == 64


def test_evaluate_scores_a_prepared_dataset_as_pytorch_does(imported_meso, synthetic_tiny):
  from fakedetect_jax.input import sources, views
  from fakedetect_jax.media import features
  from fakedetect_jax.train import evals
  net, run, _ = imported_meso
  builder, data_dir = synthetic_tiny
  name, fields = evals.parse_eval("synthetic_av/tiny")
  fields["data_dir"] = data_dir
  got = evals.evaluate_run(str(run), {name: fields})[name]
  # PyTorch on the same stored crops (decoded, resized to the run's 256 px), mean per video.
  rows = sources.read_fields(builder, "test", ("frames", "label"))
  scores, labels = [], []
  for r in rows:
    frames = np.stack([views.resize(features.decode_jpeg(b), 256) for b in r["frames"]])
    scores.append(float((1 / (1 + np.exp(-fake_logit(net, frames)))).mean()))
    labels.append(int(r["label"]))
  assert got["n_videos"] == len(rows)
  assert got["video_auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-6)
