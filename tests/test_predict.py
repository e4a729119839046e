"""predict: a trained quickstart detector on real mp4 files, as a user runs it."""
import csv
import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, run_main

DOCUMENTED = {
    "file", "ok", "verdict", "fake_probability", "threshold", "branches", "frame_scores",
    "frame_times", "faces_found", "frames", "duration", "warnings", "seconds"
}


def trained_detector(tmp_path_factory, synthetic_tiny):
  """A tiny quickstart run, trained once per session (shared by the predict and serve tests)."""
  _, data_dir = synthetic_tiny
  workdir = tmp_path_factory.getbasetemp() / "predict_detector"
  if not (workdir / "results.json").exists():
    run_main(
        workdir,
        f"--config.data.data_dir={data_dir}",
        "--config.batch_size=16",
        "--config.eval.batch_size=32",
        "--config.log_every=10",
        "--config.eval_every=20",
        "--config.checkpoint_every=20",
        config="configs/quickstart.py:steps=20,data_config=tiny,size=64")
  return str(workdir)


def rendered_videos(synthetic_tiny):
  """The dataset's own rendered mp4 files: {method: path} of one test identity."""
  _, data_dir = synthetic_tiny
  root = os.path.join(data_dir, "downloads", "synthetic_av", "tiny")
  out = {}
  for folder, _, files in sorted(os.walk(root)):
    for f in sorted(files):
      method = f.split("_", 1)[1].rsplit("_", 1)[0] if f.endswith(".mp4") else None
      if method in ("real", "blend") and method not in out:
        out[method] = os.path.join(folder, f)
  assert set(out) == {"real", "blend"}, out
  return out


@pytest.fixture(scope="module")
def detector_dir(tmp_path_factory, synthetic_tiny):
  return trained_detector(tmp_path_factory, synthetic_tiny)


def _cli(*args):
  return subprocess.run([sys.executable, "-m", "fakedetect_jax.predict", *args],
                        cwd=REPO,
                        capture_output=True,
                        text=True,
                        timeout=600)


def test_folder_with_bad_files_reports_them_and_finishes_the_rest(tmp_path, detector_dir,
                                                                  synthetic_tiny):
  folder = tmp_path / "clips"
  (folder / "sub").mkdir(parents=True)
  videos = rendered_videos(synthetic_tiny)
  shutil.copy(videos["real"], folder / "a_real.mp4")
  shutil.copy(videos["blend"], folder / "sub" / "b_blend.mp4")
  (folder / "c_empty.mp4").write_bytes(b"")
  (folder / "d_noise.mov").write_bytes(os.urandom(5000))
  (folder / "notes.txt").write_text("not a video, not picked up by extension")
  out = tmp_path / "explain"
  proc = _cli(str(folder), f"--detector={detector_dir}", "--format=json", f"--explain={out}")
  assert proc.returncode == 2, proc.stderr
  results = json.loads(proc.stdout)
  by_name = {os.path.basename(r["file"]): r for r in results}
  assert sorted(by_name) == ["a_real.mp4", "b_blend.mp4", "c_empty.mp4", "d_noise.mov"]
  for name in ("c_empty.mp4", "d_noise.mov"):
    r = by_name[name]
    assert r["ok"] is False and name in r["error"] and "\n" not in r["error"]
    assert f"error: {r['error']}" in proc.stderr
  with open(os.path.join(detector_dir, "detector.json")) as f:
    info = json.load(f)
  for name in ("a_real.mp4", "b_blend.mp4"):
    r = by_name[name]
    assert DOCUMENTED <= set(r) and r["ok"] is True
    assert r["verdict"] == ("fake" if r["fake_probability"] >= r["threshold"] else "real")
    assert r["threshold"] == pytest.approx(info["threshold"], abs=1e-4)
    assert len(r["frame_scores"]) == len(r["frame_times"]) == r["frames"] == 4  # tiny: 4 frames
    assert all(0.0 <= s <= 1.0 for s in r["frame_scores"])
    assert r["fake_probability"] == pytest.approx(np.mean(r["frame_scores"]), abs=1e-3)  # mean
    assert r["branches"]["frames"]["model"] == "meso4"
    assert 0 <= r["faces_found"] <= r["frames"]
    sheet = Image.open(r["explanation"]["contact_sheet"])
    plot = Image.open(r["explanation"]["score_plot"])
    assert sheet.format == plot.format == "PNG" and sheet.size[0] >= 4 * 64
  # detector.json: the threshold chosen on validation and the media settings of the crops.
  assert info["threshold_rule"] == "best balanced accuracy on validation video scores"
  assert 0.0 <= info["threshold"] <= 1.0 and info["validation"]["videos"] > 0
  assert info["media"]["num_frames"] == 4 and info["media"]["face_size"] == 64


def test_table_csv_and_exit_zero_when_every_file_reads(tmp_path, detector_dir, synthetic_tiny,
                                                       capsys):
  from fakedetect_jax.predict.__main__ import main
  videos = rendered_videos(synthetic_tiny)
  assert main([videos["real"], videos["blend"], f"--detector={detector_dir}", "--format=csv"]) == 0
  rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
  assert [r["file"] for r in rows] == [videos["real"], videos["blend"]]
  for r in rows:
    assert r["verdict"] in ("real", "fake") and r["ok"] == "True"
    assert len(r["frame_scores"].split()) == 4
  assert main([videos["real"], f"--detector={detector_dir}"]) == 0
  out = capsys.readouterr().out.splitlines()
  assert out[0].split()[:3] == ["file", "verdict", "p(fake)"]
  assert out[1].split()[1] in ("REAL", "FAKE")


def test_sample_video_is_a_real_mp4_the_detector_reads(tmp_path, detector_dir, capsys):
  from fakedetect_jax import media
  from fakedetect_jax.predict.__main__ import main
  path = str(tmp_path / "sample.mp4")
  assert main(["--sample", path, "--fake"]) == 0
  info = media.probe(path)
  assert info.num_frames == 50 and info.has_audio
  capsys.readouterr()
  assert main([path, f"--detector={detector_dir}", "--format=json"]) == 0
  (r,) = json.loads(capsys.readouterr().out)
  assert r["ok"] and r["faces_found"] == 4  # the rendered face is found in every frame


def test_missing_detector_is_one_line_exit_2(tmp_path):
  proc = _cli(str(tmp_path), f"--detector={tmp_path / 'nope'}")
  assert proc.returncode == 2
  assert proc.stderr.strip().startswith("error:") and "not a trained run" in proc.stderr
  assert len(proc.stderr.strip().splitlines()) == 1


def test_threshold_maximises_balanced_accuracy():
  from fakedetect_jax.predict import choose_threshold
  rng = np.random.default_rng(0)
  labels = np.r_[np.zeros(30), np.ones(10)].astype(int)
  scores = np.r_[rng.uniform(0, 0.6, 30), rng.uniform(0.4, 1, 10)]
  t, bal = choose_threshold(labels, scores)

  # Brute force over every cut between sorted scores (an independent reference).
  def balanced(th):
    return ((scores[labels == 1] >= th).mean() + (scores[labels == 0] < th).mean()) / 2

  best = max(balanced(th) for th in np.r_[scores, 1.1])
  assert bal == pytest.approx(best) and balanced(t) == pytest.approx(best)
  # Perfectly separated: the cut lies between the classes.
  t, bal = choose_threshold([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9])
  assert bal == 1.0 and 0.2 < t < 0.7


def test_grad_cam_finds_a_feature_map_and_matches_the_model(detector_dir):
  from fakedetect_jax.predict import Detector
  det = Detector(detector_dir)
  rng = np.random.default_rng(1)
  frames = rng.integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
  heat = det.heatmaps(frames)
  assert heat.shape == (4, 64, 64) and heat.min() >= 0 and heat.max() <= 1 + 1e-6
  import jax.numpy as jnp
  logits = det.model.apply(det.variables, jnp.asarray(frames, jnp.float32) / 127.5 - 1, train=False)
  np.testing.assert_allclose(
      det.frame_scores(frames), 1 / (1 + np.exp(-np.asarray(logits))), rtol=1e-5, atol=1e-6)
