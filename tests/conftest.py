"""Test setup: 8 simulated CPU devices (set before anything imports jax) and shared fixtures."""
import os
import subprocess
import sys

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def frames_npz(tmp_path_factory):
  """A small train/validation/test set of real and blended face crops (64 px)."""
  import frames_fixture
  return str(frames_fixture.write_npz(tmp_path_factory.mktemp("npz") / "faces.npz"))


def run_main(workdir,
             *overrides,
             config="configs/meso4.py:size=64,steps=40",
             devices=8,
             extra_env=None,
             check=True,
             timeout=600):
  """Runs the main job in a fresh process (as a user would); returns CompletedProcess."""
  env = dict(
      os.environ,
      XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
      **(extra_env or {}))
  cmd = [
      sys.executable, "-m", "fakedetect_jax.main", f"--config={config}", f"--workdir={workdir}",
      *overrides
  ]
  proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
  if check and proc.returncode != 0:
    raise AssertionError(f"main failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
  return proc


def npz_overrides(path, **extra):
  """Command-line overrides that train on the npz fixture with frequent logging, reading in the
  training process (worker processes cost seconds to start; the tests about them ask for them)."""
  args = {
      "data.dataset": "npz",
      "data.path": path,
      "data.workers": 0,
      "log_every": 10,
      "eval_every": 20,
      "checkpoint_every": 10,
      "batch_size": 16,
      "eval.batch_size": 16,
      **extra
  }
  return [f"--config.{k}={v}" for k, v in args.items()]


@pytest.fixture(scope="session")
def synthetic_tiny(tmp_path_factory):
  """The embedded dataset's `tiny` config, built once with real TFDS: (builder, data_dir)."""
  from fakedetect_jax.input import sources
  data_dir = str(tmp_path_factory.mktemp("tfds"))
  sources.import_builder_module("synthetic_av")
  import tensorflow_datasets as tfds
  builder = tfds.builder("synthetic_av", config="tiny", data_dir=data_dir)
  builder.download_and_prepare()
  return builder, data_dir


@pytest.fixture(scope="session")
def synthetic_partial_tiny(tmp_path_factory):
  """synthetic_av's `partial_tiny` (partial fakes, dense media), built once: (builder, data_dir)."""
  from fakedetect_jax.input import sources
  data_dir = str(tmp_path_factory.mktemp("tfds_partial"))
  sources.import_builder_module("synthetic_av")
  import tensorflow_datasets as tfds
  builder = tfds.builder("synthetic_av", config="partial_tiny", data_dir=data_dir)
  builder.download_and_prepare()
  return builder, data_dir


@pytest.fixture(scope="session")
def real_media():
  """The real faces and speech of fakedetect_jax.testing.real_media, fetched once into the
  persistent cache (default_dir(): $FAKEDETECT_REAL_MEDIA or ~/.cache/fakedetect_jax/real_media;
  seconds on a fresh machine, instant once there); returns that folder as a pathlib.Path."""
  import pathlib

  from fakedetect_jax.testing import real_media as rm
  return pathlib.Path(rm.fetch(rm.default_dir()))
