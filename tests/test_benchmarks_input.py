"""The input-pipeline benchmark runs (tiny mode) and writes its figures; no timing is asserted.

The benchmark reads the session's synthetic_av/tiny (its 64 px faces, nothing rebuilt)
from the tests' temporary data dir.
"""
import json
import os
import subprocess
import sys

from conftest import REPO


def test_input_pipeline_benchmark_tiny_writes_json(tmp_path, synthetic_tiny):
  _, data_dir = synthetic_tiny
  out = tmp_path / "input.json"
  env = dict(
      os.environ,
      XLA_FLAGS="--xla_force_host_platform_device_count=1",
      PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
  proc = subprocess.run([
      sys.executable, "experiments/benchmarks/input_pipeline.py", "--tiny", "--json",
      str(out), f"--data_dir={data_dir}"
  ],
                        cwd=REPO,
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=600)
  print(proc.stdout)
  assert proc.returncode == 0, proc.stderr[-3000:]
  r = json.loads(out.read_text())
  aug = r["augmented_examples_per_s"]
  assert sorted(aug) == ["1", "2"]
  assert all(isinstance(v, float) and v > 0 for v in aug.values()), aug
  assert isinstance(r["plain_examples_per_s"], float) and r["plain_examples_per_s"] > 0
  assert "| augmented" in proc.stdout and "| plain" in proc.stdout
