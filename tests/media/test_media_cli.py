"""`python -m fakedetect_jax.media VIDEO [--frames N]`: one JSON object, or exit 2 and one line."""
import json
import os
import subprocess
import sys

import numpy as np

from fakedetect_jax.media import __main__ as cli
from fakedetect_jax.media import write_video
from media_testlib import index_frames
from media_testlib import astronaut_video, media_dir  # noqa: F401 (fixtures)

KEYS = [
    "frames", "frame_indices", "faces_found", "boxes", "has_audio", "audio_seconds", "mouth_found",
    "warnings"
]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(*args):
  env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
  return subprocess.run([sys.executable, "-m", "fakedetect_jax.media", *args],
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=300)


def test_prints_one_json_object(astronaut_video):
  path, boxes, _ = astronaut_video
  proc = run(path, "--frames", "4")
  assert proc.returncode == 0, proc.stderr
  out = json.loads(proc.stdout)  # stdout holds exactly one JSON object
  assert list(out) == KEYS
  assert out["frames"] == 4 and len(out["frame_indices"]) == 4 and len(out["boxes"]) == 4
  assert out["frame_indices"] == sorted(out["frame_indices"]) and out["faces_found"] == 4
  for box, i in zip(out["boxes"], out["frame_indices"]):
    assert len(box) == 4 and abs(box[0] - boxes[i][0]) < 15  # source pixel coordinates
  assert out["has_audio"] is False and out["audio_seconds"] == 0 and out["mouth_found"] == 4
  assert out["warnings"] == []


def test_null_boxes_and_audio_in_process(tmp_path, capsys):
  path = str(tmp_path / "noface.mp4")
  tone = np.zeros(16000, np.float32)
  write_video(path, index_frames(10), fps=10, audio=tone)
  assert cli.main([path, "--frames", "3"]) == 0
  out = json.loads(capsys.readouterr().out)
  assert out["boxes"] == [None, None, None] and out["faces_found"] == 0
  assert out["has_audio"] is True and abs(out["audio_seconds"] - 1.0) < 1e-3
  assert any("no face" in w for w in out["warnings"])


def test_unreadable_file_exits_2_with_one_line(tmp_path):
  bad = tmp_path / "broken.mp4"
  bad.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x01" * 500)
  proc = run(str(bad))
  assert proc.returncode == 2 and proc.stdout == ""
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and str(bad) in lines[0] and "expected" in lines[0]
  assert "Traceback" not in proc.stderr


def test_missing_file_exits_2(tmp_path, capsys):
  assert cli.main([str(tmp_path / "gone.mp4")]) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "gone.mp4: expected an existing file" in err[0]
