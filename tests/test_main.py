"""The main job as a user runs it: bad input gives one clear line; a NaN stops training."""

import pytest

from conftest import npz_overrides, run_main


def _error_line(proc):
  lines = [l for l in proc.stderr.splitlines() if l.startswith("error: ")]
  assert len(lines) == 1, proc.stderr[-2000:]
  assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
  return lines[0]


@pytest.mark.parametrize("args,expected", [
    (["--config=configs/meso4.py:model=mesonet9"], "unknown model 'mesonet9'; registered models: "),
    (["--config=configs/meso4.py:dataset=ffpq"], "unknown dataset 'ffpq'"),
    (["--config=configs/meso4.py:sise=64"], "unknown config argument 'sise'"),
    (["--config=configs/meso4.py", "--config.optimzer.learning_rate=1"
     ], 'Did you mean "optimizer" instead of "optimzer"?'),
    (["--config=configs/missing.py"], "No such file or directory: 'configs/missing.py'"),
    (["--config=configs/meso4.py", "--config.batch_size=12"
     ], "batch_size 12 must divide by devices (8)"),
])
def test_bad_config_is_one_clear_line(tmp_path, args, expected):
  proc = run_main(tmp_path / "w", *args[1:], config=args[0].split("=", 1)[1], check=False)
  assert proc.returncode == 2
  assert expected in _error_line(proc)


def test_unwritable_workdir_is_one_clear_line(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("not a folder")
  proc = run_main(blocker / "run", check=False)
  assert proc.returncode == 2
  assert f"cannot write to workdir {blocker / 'run'}" in _error_line(proc)


def test_workdir_of_another_config_is_refused(tmp_path, frames_npz):
  args = npz_overrides(frames_npz, total_steps=2)
  run_main(tmp_path, *args)
  proc = run_main(tmp_path, *args, "--config.optimizer.learning_rate=0.5", check=False)
  assert proc.returncode == 2
  assert "holds a run of another config" in _error_line(proc)


def test_nan_loss_stops_and_saves_nothing_diverged(tmp_path, frames_npz):
  args = npz_overrides(frames_npz, **{
      "optimizer.learning_rate": 1e30,
      "optimizer.schedule": "constant"
  })
  proc = run_main(tmp_path, *args, check=False)
  assert proc.returncode == 3
  line = _error_line(proc)
  assert "loss became NaN or infinite between steps 0 and 10" in line
  assert "last good checkpoint: none" in line
  latest = tmp_path / "checkpoints" / "latest"
  assert not [p for p in latest.iterdir() if p.name.isdigit()]
  assert not (tmp_path / "results.json").exists()
