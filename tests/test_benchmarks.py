"""The benchmark scripts of experiments/benchmarks/ run (tiny mode, seconds each); their figures are
printed, not asserted."""
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO


def _run(*args, timeout=240):
  env = dict(
      os.environ,
      XLA_FLAGS="--xla_force_host_platform_device_count=1",
      PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
  proc = subprocess.run([sys.executable, *args],
                        cwd=REPO,
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=timeout)
  print(proc.stdout)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc.stdout


def test_benchmark_vs_torch_tiny(tmp_path):
  out = _run("experiments/benchmarks/vs_torch.py", "--tiny", "--json", str(tmp_path / "r.json"))
  r = json.loads((tmp_path / "r.json").read_text())["results"][0]
  assert r["model"] == "meso4" and r["flax_train_examples_per_s"] > 0
  try:
    import torch  # noqa: F401
    assert r["torch_train_examples_per_s"] > 0 and r["train_ratio"] > 0
    assert r["torch_params"] == r["flax_params"]  # the same architecture on both sides
  except ImportError:
    assert "PyTorch is not installed" in out


def test_benchmark_train_tiny_writes_json(tmp_path):
  _run("experiments/benchmarks/train.py", "--tiny", "--json", str(tmp_path / "r.json"))
  r = json.loads((tmp_path / "r.json").read_text())
  assert sorted(r) == ["compile_s", "infer_examples_per_s", "train_examples_per_s"]
  assert all(v > 0 for v in r.values())


def test_benchmark_media_tiny(tmp_path):
  out = _run("experiments/benchmarks/media.py", "--tiny", "--workdir", str(tmp_path))
  assert "224p" in out
