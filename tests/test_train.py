"""The data-parallel engine: 8 devices = 1 device, 2 hosts = 1 host, kill -9 + resume = one run."""
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import frames_fixture
from conftest import REPO, npz_overrides, run_main
from fakedetect_jax import config_lib, models
from fakedetect_jax.train import state as state_lib
from fakedetect_jax.train.checkpoints import Checkpoints


def _train(devices, grad_accum=1, dtype="float32", steps=3, size=32):
  """(final state, loss of each step): `steps` engine train steps on a mesh of `devices`, over
  8 real and 8 blended crops (the batch reversed on odd steps)."""
  config = config_lib.base_config()
  config.grad_accum_steps = grad_accum
  config.compute_dtype = dtype
  model = models.get_model(
      "meso4", dtype=np.dtype(dtype) if dtype == "float32" else jax.numpy.bfloat16)
  state, losses = frames_fixture.train_on_faces(model, config, devices, size, steps)
  return jax.device_get(state), losses


def test_eight_devices_train_like_one():
  assert jax.device_count() == 8
  one, loss_one = _train(jax.devices()[:1])
  eight, loss_eight = _train(jax.devices())
  np.testing.assert_allclose(loss_one, loss_eight, rtol=1e-5)
  for a, b in zip(jax.tree.leaves(one.params), jax.tree.leaves(eight.params)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
  for a, b in zip(jax.tree.leaves(one.batch_stats), jax.tree.leaves(eight.batch_stats)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
  moved = [
      not np.allclose(a, b) for a, b in zip(
          jax.tree.leaves(one.params), jax.tree.leaves(
              _train(jax.devices()[:1], steps=0)[0].params))
  ]
  assert all(moved)  # every parameter trained, so the comparison above means something


def test_grad_accumulation_and_bf16_run_on_eight_devices():
  one, _ = _train(jax.devices()[:1], grad_accum=2)
  eight, _ = _train(jax.devices(), grad_accum=2)
  for a, b in zip(jax.tree.leaves(one.params), jax.tree.leaves(eight.params)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
  # Accumulating 2 micro-batches is a different computation (batch norm sees 8 at a time).
  plain, _ = _train(jax.devices()[:1])
  assert not np.allclose(jax.tree.leaves(plain.params)[0], jax.tree.leaves(one.params)[0])
  _, loss32 = _train(jax.devices(), steps=1)
  _, loss16 = _train(jax.devices(), dtype="bfloat16", steps=1)
  assert loss16[0] == pytest.approx(loss32[0], rel=0.05)  # same start, bf16 precision


def _params(workdir, step=None):
  ckpts = Checkpoints(workdir)
  config = config_lib.base_config()
  model = models.get_model("meso4")
  tx = state_lib.make_optimizer(config.optimizer, 40)
  template = state_lib.create_state(model, tx, 64, 0)
  state = ckpts.restore(ckpts.latest, template, step)
  ckpts.close()
  return jax.device_get(state)


def test_kill_and_resume_reproduces_uninterrupted_run(tmp_path, frames_npz):
  # One device: resume is about state and data position (the mesh has its own tests). Two
  # Grain worker processes read and augment the rows; the kill lands mid-epoch (48 training
  # rows: an epoch is 3 steps of 16, and the resumed checkpoint is step 10 or later).
  args = npz_overrides(frames_npz, **{"data.workers": 2, "augment.jpeg": 0.5})
  straight = tmp_path / "straight"
  run_main(straight, *args, devices=1)
  # Kill -9 once a mid-run checkpoint exists, while the run is still going.
  killed = tmp_path / "killed"
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=1")
  proc = subprocess.Popen([
      sys.executable, "-m", "fakedetect_jax.main", "--config=configs/meso4.py:size=64,steps=40",
      f"--workdir={killed}", *args
  ],
                          cwd=REPO,
                          env=env,
                          stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
  latest = killed / "checkpoints" / "latest"
  deadline = time.time() + 300
  while time.time() < deadline and not any(p.name.isdigit() and int(p.name) >= 10
                                           for p in (latest.iterdir() if latest.exists() else [])):
    time.sleep(0.05)
  os.kill(proc.pid, signal.SIGKILL)
  proc.wait()
  assert not (killed / "results.json").exists()
  resumed = run_main(killed, *args, devices=1)
  assert "Resuming from step" in resumed.stderr
  a = json.loads((straight / "results.json").read_text())
  b = json.loads((killed / "results.json").read_text())
  assert a == b
  pa, pb = _params(straight), _params(killed)
  assert int(pa.step) == int(pb.step) == 40
  for x, y in zip(jax.tree.leaves(pa), jax.tree.leaves(pb)):
    np.testing.assert_array_equal(x, y)
  # The selected state's scores are stored beside the results, row for row.
  from sklearn.metrics import roc_auc_score
  with np.load(straight / "predictions" / "test.npz") as f:
    assert len(f["scores"]) == a["test"]["n_frames"]
    assert roc_auc_score(f["labels"], f["scores"]) == pytest.approx(a["test"]["frame_auc"])
  # A finished run re-invoked only re-reports.
  again = run_main(killed, *args, devices=1)
  assert "is finished" in again.stdout
  assert json.loads((killed / "results.json").read_text()) == a


def test_two_hosts_train_like_one(tmp_path, frames_npz):
  # Few steps: Adam turns float-order noise of the all-reduce into growing differences.
  args = npz_overrides(frames_npz, total_steps=6, log_every=2, eval_every=6, checkpoint_every=6)
  one = tmp_path / "one"
  run_main(one, *args, devices=4)
  two = tmp_path / "two"
  port = 20000 + os.getpid() % 20000
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
  procs = [
      subprocess.Popen([
          sys.executable, "-m", "fakedetect_jax.main", "--config=configs/meso4.py:size=64,steps=40",
          f"--workdir={two}", f"--coordinator_address=localhost:{port}", "--num_processes=2",
          f"--process_id={i}", *args
      ],
                       cwd=REPO,
                       env=env,
                       stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE,
                       text=True) for i in range(2)
  ]
  outs = [p.communicate(timeout=600) for p in procs]
  assert all(p.returncode == 0 for p in procs), outs[0][1][-2000:] + outs[1][1][-2000:]
  pa, pb = _params(one), _params(two)
  for x, y in zip(jax.tree.leaves(pa.params), jax.tree.leaves(pb.params)):
    np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)
  ra = json.loads((one / "results.json").read_text())
  rb = json.loads((two / "results.json").read_text())
  assert ra["test"]["video_auc"] == pytest.approx(rb["test"]["video_auc"], abs=1e-6)


def test_pretrained_weights_start_the_run(tmp_path, frames_npz):
  from fakedetect_jax.models import pretrained
  model = models.get_model("meso4")
  variables = jax.device_get(model.init(jax.random.key(123), np.zeros((1, 64, 64, 3)), train=False))
  path = tmp_path / "meso4_weights.npz"
  pretrained.save_npz(path, "meso4", variables)
  # Learning rate 0: the parameters the run ends with are the ones it started from.
  args = npz_overrides(
      frames_npz,
      total_steps=2,
      log_every=2,
      eval_every=2,
      checkpoint_every=2,
      pretrained=str(path),
      **{"optimizer.learning_rate": 0.0})
  proc = run_main(tmp_path / "run", *args)
  assert "Loaded pretrained weights" in proc.stderr
  ckpts = Checkpoints(tmp_path / "run")
  template = state_lib.create_state(model,
                                    state_lib.make_optimizer(config_lib.base_config().optimizer, 2),
                                    64, 0)
  state = jax.device_get(ckpts.restore(ckpts.latest, template))
  ckpts.close()
  for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(variables["params"])):
    np.testing.assert_array_equal(a, b)
  bad = run_main(
      tmp_path / "bad",
      *npz_overrides(frames_npz, pretrained=str(tmp_path / "no.npz")),
      check=False)
  assert bad.returncode == 2 and "no.npz not found" in bad.stderr
