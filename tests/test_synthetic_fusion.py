"""The proof on the embedded dataset (temporal, audio-visual branches and their fusion): every
branch catches its own kind of fake, and the learned fusion beats every single branch.

Runs the study `experiments/studies/synthetic_fusion.py:preset=proof` as a user would (`python -m
fakedetect_jax.studies run ...`), on one device (the 8-device engine has its own tests),
building `synthetic_av/proof_clips` on the way.
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
  proc = subprocess.run([
      sys.executable, "-m", "fakedetect_jax.studies", "run",
      "experiments/studies/synthetic_fusion.py:preset=proof", f"--workdir={root / 'run'}",
      f"--data_dir={root / 'tfds'}"
  ],
                        cwd=REPO,
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=1800)
  assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
  return root / "run", proc.stdout


def test_each_branch_catches_its_own_fake(proof):
  workdir, _ = proof
  results = json.loads((workdir / "report" / "results.json").read_text())
  assert set(results["branches"]) == set(OWN_FAKE)
  for branch, fake in OWN_FAKE.items():
    assert results["branches"][branch][fake] >= 0.9, (branch, results["branches"][branch])
  # The voice is the only fake audio: the audio branch's category row says the same.
  assert results["branches"]["audio"]["RealVideo-FakeAudio"] >= 0.9


def test_learned_fusion_beats_every_single_branch(proof):
  workdir, stdout = proof
  results = json.loads((workdir / "report" / "results.json").read_text())
  best_single = max(r["overall"] for r in results["branches"].values())
  for method in ("logistic", "mlp"):
    fused = results["fusion"][method]
    assert fused["overall"] > best_single, (method, fused["overall"], best_single)
    for category in ("RealVideo-FakeAudio", "FakeVideo-RealAudio", "FakeVideo-FakeAudio"):
      assert np.isfinite(fused[category])
  assert set(results["fusion"]) == {"mean", "max", "logistic", "mlp"}
  table = (workdir / "report" / "results.md").read_text()
  assert "| fusion logistic |" in table and "| fusion mlp |" in table
  assert "5 of 5 runs finished" in stdout and str(workdir / "detector") in stdout
  # The fused detector is saved as one directory: its branches and the fusion parameters.
  detector = json.loads((workdir / "detector" / "fusion.json").read_text())
  assert set(detector["branches"]) == set(OWN_FAKE) and detector["fusion"]["method"] == "logistic"
  assert {p.name for p in (workdir / "detector" / "branches").iterdir()} == set(OWN_FAKE)
  # The report again from the stored rows alone (fusions refitted on them): the same numbers.
  os.remove(workdir / "report" / "results.json")
  proc = subprocess.run([sys.executable, "-m", "fakedetect_jax.studies", "report",
                         str(workdir)],
                        cwd=REPO,
                        capture_output=True,
                        text=True,
                        timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert json.loads((workdir / "report" / "results.json").read_text()) == results


def test_predict_runs_the_fused_detector_on_video_files(proof, tmp_path):
  """`predict --detector=<fused>` re-encodes the mp4 files and gets the fused scores the
  experiment computed from the TFDS examples, with every branch and the lip-sync offset."""
  workdir, _ = proof
  expected = json.loads((workdir / "report" / "test_scores.json").read_text())
  videos = workdir.parent / "tfds" / "downloads" / "synthetic_av" / "proof_clips"
  picks = [
      next(v
           for v in sorted(expected)
           if expected[v]["method"] == m)
      for m in ("real", "lipsync-voice")
  ]
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=1")
  proc = subprocess.run([
      sys.executable, "-m", "fakedetect_jax.predict", *[str(videos / v) for v in picks],
      f"--detector={workdir / 'detector'}", "--format=json", f"--explain={tmp_path / 'x'}"
  ],
                        cwd=REPO,
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  results = json.loads(proc.stdout)
  threshold = json.loads((workdir / "detector" / "fusion.json").read_text())["threshold"]
  for video_id, r in zip(picks, results):
    want = expected[video_id]
    assert r["fake_probability"] == pytest.approx(want["fusion_logistic"], abs=2e-3), video_id
    for branch in OWN_FAKE:
      assert r["branches"][branch]["score"] == pytest.approx(want[branch], abs=2e-3)
    assert isinstance(r["branches"]["lipsync"]["offset"], int)
    assert r["verdict"] == ("fake" if r["fake_probability"] >= threshold else "real")
    assert len(r["frame_scores"]) == r["frames"] == 16
    assert all(os.path.getsize(p) > 1000 for p in r["explanation"].values())
