"""The proof on the embedded dataset (issue: temporal, audio-visual branches and fusion): every
branch catches its own kind of fake, and the learned fusion beats every single branch.

Runs `experiments/synthetic_fusion.py --config=preset=proof` as a user would, on one device
(the 8-device engine has its own tests), building `synthetic_av/proof_clips` on the way.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO

# Each branch and the fake it is built to see (a method of synthetic_av).
OWN_FAKE = {"spatial": "blend", "temporal": "flicker", "lipsync": "lipsync", "audio": "voice"}


@pytest.fixture(scope="module")
def proof(tmp_path_factory):
  root = tmp_path_factory.mktemp("proof")
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=1")
  proc = subprocess.run(
      [sys.executable, "experiments/synthetic_fusion.py", f"--workdir={root / 'run'}",
       f"--data_dir={root / 'tfds'}", "--config=preset=proof"],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return root / "run", proc.stdout


def test_each_branch_catches_its_own_fake(proof):
  workdir, _ = proof
  results = json.loads((workdir / "results.json").read_text())
  assert set(results["branches"]) == set(OWN_FAKE)
  for branch, fake in OWN_FAKE.items():
    assert results["branches"][branch][fake] >= 0.9, (branch, results["branches"][branch])
  # The voice is the only fake audio: the audio branch's category row says the same.
  assert results["branches"]["audio"]["RealVideo-FakeAudio"] >= 0.9


def test_learned_fusion_beats_every_single_branch(proof):
  workdir, stdout = proof
  results = json.loads((workdir / "results.json").read_text())
  best_single = max(r["overall"] for r in results["branches"].values())
  for method in ("logistic", "mlp"):
    fused = results["fusion"][method]
    assert fused["overall"] > best_single, (method, fused["overall"], best_single)
    for category in ("RealVideo-FakeAudio", "FakeVideo-RealAudio", "FakeVideo-FakeAudio"):
      assert np.isfinite(fused[category])
  assert set(results["fusion"]) == {"mean", "max", "logistic", "mlp"}
  assert "| fusion logistic |" in (workdir / "results.md").read_text() and "fusion mlp" in stdout
  # The fused detector is saved as one directory: its branches and the fusion parameters.
  detector = json.loads((workdir / "detector" / "fusion.json").read_text())
  assert set(detector["branches"]) == set(OWN_FAKE) and detector["fusion"]["method"] == "logistic"
  assert {p.name for p in (workdir / "detector" / "branches").iterdir()} == set(OWN_FAKE)
