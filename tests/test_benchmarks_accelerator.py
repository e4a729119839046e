"""experiments/benchmarks/accelerator.py --tiny runs on 2 simulated CPU devices and writes one
complete record per model; its figures are checked for sense (positive, MFU in (0, 1]), never
for speed."""
import json
import math
import os
import subprocess
import sys

from conftest import REPO

KEYS = ("model", "size", "batch", "devices", "device_kind", "train_examples_per_s",
        "train_examples_per_s_per_device", "infer_examples_per_s", "mfu", "peak_flops",
        "peak_source", "train_flops_per_example", "compile_s", "input_wait_frac")
POSITIVE = ("train_examples_per_s", "train_examples_per_s_per_device", "infer_examples_per_s",
            "peak_flops", "train_flops_per_example", "compile_s")


def test_accelerator_tiny_writes_records(tmp_path, synthetic_tiny):
  _, data_dir = synthetic_tiny  # synthetic_av/tiny, already built for the session
  out = tmp_path / "accelerator.json"
  env = dict(
      os.environ,
      XLA_FLAGS="--xla_force_host_platform_device_count=2",
      PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
  proc = subprocess.run([
      sys.executable, "experiments/benchmarks/accelerator.py", "--tiny", "--data_dir", data_dir,
      "--json",
      str(out)
  ],
                        cwd=REPO,
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=900)
  print(proc.stdout)
  assert proc.returncode == 0, proc.stderr[-3000:]
  result = json.loads(out.read_text())
  assert result["failed"] == {}
  records = result["records"]
  assert [r["model"] for r in records] == ["meso4", "vit_b16"]
  for r in records:
    missing = [k for k in KEYS if k not in r]
    assert not missing, (r["model"], missing)
    assert r["size"] == 32 and r["devices"] == 2 and r["batch"] == 2 * 2
    assert r["device_kind"] and r["peak_source"] in ("datasheet", "measured")
    assert r["peak_source"] == "measured"  # CPU: no datasheet peak
    for k in POSITIVE:
      assert math.isfinite(r[k]) and r[k] > 0, (r["model"], k, r[k])
    assert 0 < r["mfu"] <= 1, (r["model"], r["mfu"])
    assert 0 <= r["input_wait_frac"] <= 1, (r["model"], r["input_wait_frac"])
    assert math.isclose(r["train_examples_per_s_per_device"] * 2, r["train_examples_per_s"])
    assert f"| {r['model']}" in proc.stdout  # its row of the markdown table
