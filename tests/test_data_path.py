"""The one data path end to end: what training scored is what predict scores (same stored
example, same numbers), and a finished run is evaluated on a second prepared dataset."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, run_main
from fakedetect_jax.input import sources
from fakedetect_jax.media import features as media_features
from fakedetect_jax.testing import contract, replicas


@pytest.fixture(scope="module")
def tiny_run(synthetic_tiny, tmp_path_factory):
  """A quickstart run on synthetic_av/tiny (4 frames of 64 px faces, trained at 32 px)."""
  _, data_dir = synthetic_tiny
  workdir = tmp_path_factory.mktemp("run") / "quick"
  overrides = {
      "data.data_dir": data_dir,
      "batch_size": 8,
      "eval.batch_size": 8,
      "log_every": 2,
      "eval_every": 2,
      "checkpoint_every": 2,
      "data.workers": 0
  }
  run_main(
      workdir,
      *[f"--config.{k}={v}" for k, v in overrides.items()],
      config="configs/quickstart.py:steps=4,size=32,data_config=tiny")
  return workdir, data_dir


def _test_records(data_dir):
  builder = sources.get_builder("synthetic_av", "tiny", data_dir)
  return builder, sources._Records(
      builder.as_data_source("test").data_source, builder.info.features)


def test_predict_scores_a_stored_example_as_training_evaluated_it(tiny_run):
  from fakedetect_jax.predict import clip
  from fakedetect_jax.predict.detector import Detector
  workdir, data_dir = tiny_run
  with np.load(workdir / "predictions" / "test.npz") as f:
    scores, ids = f["scores"], f["video_ids"][f["video_index"]]
  detector = Detector(str(workdir), calibrate=False)
  builder, records = _test_records(data_dir)
  checked = 0
  for r in range(len(records)):
    stored = records[r]
    vid = sources.text(stored["video_id"])
    if vid not in ids:
      continue  # a method the quickstart leaves out
    want = scores[ids == vid]
    # (a) The stored JPEG crops, decoded as predict's JPEG round trip decodes them.
    frames = np.stack([media_features.decode_jpeg(b) for b in stored["frames"]])
    np.testing.assert_allclose(detector.frame_scores(frames), want, atol=1e-6)
    # (b) The video file itself, through predict's whole path (decode, faces, crops, JPEG).
    if checked < 2:
      path = os.path.join(data_dir, "downloads", "synthetic_av", "tiny", vid)
      result, _ = clip.analyse(detector, path)
      np.testing.assert_allclose(result["frame_scores"], want, atol=1e-4)  # rounded to 4 places
    checked += 1
  assert checked >= 4


def test_results_json_has_deepfakebench_metrics_of_its_saved_predictions(tiny_run):
  import dfb_reference
  workdir, _ = tiny_run
  results = json.loads((workdir / "results.json").read_text())
  with np.load(workdir / "predictions" / "test.npz") as f:
    p = {k: f[k] for k in f.files}
  block = results["test"]["deepfakebench"]
  want = dfb_reference.frame_metrics(p["scores"], p["labels"],
                                     dfb_reference.frame_paths(p["video_ids"], p["video_index"]))
  assert block["level"] == "frame" and block["n_frames"] == len(p["scores"])
  for key in ("auc", "eer", "ap", "acc"):
    assert block["frame_" + key] == pytest.approx(want[key], abs=1e-9), key
  assert block["video_auc"] == pytest.approx(want["video_auc"], abs=1e-9)
  assert block["n_videos"] == want["n_videos"]
  assert "frame EER (nearest ROC point)" in (workdir / "results.md").read_text()


def test_evaluate_cli_on_a_second_prepared_dataset(tiny_run):
  import tensorflow_datasets as tfds
  workdir, data_dir = tiny_run
  manual = workdir.parent / "celeb_df_manual"
  replica = replicas.write_celeb_df(str(manual))
  builder = sources.import_builder_module("celeb_df").Builder(
      data_dir=data_dir, config="v2", media=contract.TINY_MEDIA, workers=1)
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=replica.manual_dir))
  env = dict(
      os.environ,
      FAKEDETECT_MEDIA=contract.TINY_MEDIA,
      XLA_FLAGS="--xla_force_host_platform_device_count=8")
  proc = subprocess.run([
      sys.executable, "-m", "fakedetect_jax.evaluate", f"--workdir={workdir}", "--eval=celeb_df/v2",
      "--eval=synthetic_av/tiny:validation"
  ],
                        cwd=REPO,
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  results = json.loads((workdir / "results.json").read_text())
  celeb = json.loads((workdir / "evals" / "celeb_df_v2.json").read_text())
  assert set(results["test"]) <= set(celeb)  # the test block's keys, plus provenance
  assert celeb["n_videos"] == builder.info.splits["test"].num_examples
  assert 0.0 <= celeb["video_auc"] <= 1.0
  assert celeb["deepfakebench"]["level"] == "frame"
  assert celeb["deepfakebench"]["n_frames"] == celeb["n_frames"]
  # The run's own validation split through the CLI equals what training reported for it.
  again = json.loads((workdir / "evals" / "synthetic_av_tiny_validation.json").read_text())
  for key in ("frame_auc", "video_auc", "ap", "eer", "n_frames"):
    assert again[key] == pytest.approx(results["validation"][key], abs=1e-6)
  assert "celeb_df_v2" in proc.stdout


def test_a_missing_dataset_is_one_line_naming_the_prepare_command(tmp_path):
  from conftest import npz_overrides  # noqa: F401  (same process helpers)
  proc = run_main(
      tmp_path / "run",
      f"--config.data.data_dir={tmp_path / 'empty'}",
      config="configs/meso4.py:dataset=celeb_df,data_config=v2,size=64,steps=2",
      check=False,
      devices=1)
  assert proc.returncode == 2
  err = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
  assert len(err) == 1 and "celeb_df/v2" in err[0]
  assert "tfds build datasets/celeb_df --config=v2" in err[0]
