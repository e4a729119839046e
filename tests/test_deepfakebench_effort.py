"""A DeepfakeBench Effort checkpoint (its Hugging Face CLIP vision transformer with SVD-residual
projections and 2-class head, shrunk: width 32, 2 layers, 32 px patches on 224 px crops)
imported by models.deepfakebench.load gives its fake logits, and our Effort trains on from it
with its regularisers at their minimum."""
import jax
import numpy as np
import torch

from deepfakebench_torch.effort import EffortDetector
from fakedetect_jax import models
from fakedetect_jax.models import deepfakebench
from fakedetect_jax.train.step import preprocess

SHRUNK = dict(width=32, depth=2, heads=4, patch=32)


def test_effort_import_gives_deepfakebench_logits(tmp_path):
  torch.set_num_threads(1)
  net = EffortDetector().trained()
  path = tmp_path / "effort_best.pth"
  torch.save({"module." + k: v for k, v in net.state_dict().items()}, path)
  detector, variables = deepfakebench.load(str(path), "effort", model_kwargs=SHRUNK)
  assert detector.size == 224 and detector.model == "effort"
  images = np.random.default_rng(0).integers(0, 256, (3, 224, 224, 3), np.uint8)
  with torch.no_grad():
    out = net(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0).numpy()
  model = models.get_model("effort", **SHRUNK)
  ours, sown = jax.jit(lambda v, x: model.apply(v, preprocess(x), train=True, mutable=["losses"]))(
      variables, images)
  np.testing.assert_allclose(np.asarray(ours), out[:, 1] - out[:, 0], atol=1e-4, rtol=1e-4)
  # The recovered references put both regularisers at their minimum for the imported weights:
  # the singular-value loss at 0, the orthogonality loss at that of the trained residuals.
  q = sown["losses"]["tower"]["encoder"]["blocks_0"]["attn"]["q_proj"]
  p = variables["params"]["tower"]["encoder"]["blocks_0"]["attn"]["q_proj"]
  assert float(q["singular_value"][0]) < 1e-5 * float(p["energy_start"])
  w_main = np.asarray(p["weight_main"], np.float64).T  # torch layout [out, in]
  assert np.abs(w_main @ np.asarray(p["V_start"], np.float64).T).max() < 1e-5  # its null space
  assert np.abs(np.asarray(p["U_start"], np.float64).T @ w_main).max() < 1e-5
