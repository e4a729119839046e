"""A localization run end to end on synthetic_av/partial_tiny (configs/localization.py): trained by
the one loop, it finds the partial fakes (AP@0.5 >= 0.8 by the avdeepfake1m SDK), its prediction
files rescore to its results and hold the builder's ground truth, and predict names the fake
segments of a test video and passes a real one."""
import json
import os

import numpy as np
import pytest

from conftest import run_main
from fakedetect_jax.evaluate import localization

CONFIG = "configs/localization.py:data_config=partial_tiny,steps=600,batch=8,window=32,size=32"


@pytest.fixture(scope="module")
def run(synthetic_partial_tiny, tmp_path_factory):
  builder, data_dir = synthetic_partial_tiny
  workdir = str(tmp_path_factory.mktemp("localizer"))
  run_main(
      workdir,
      f"--config.data.data_dir={data_dir}",
      "--config.optimizer.learning_rate=0.002",
      "--config.optimizer.warmup_steps=20",
      "--config.log_every=100",
      "--config.eval_every=600",
      "--config.checkpoint_every=600",
      "--config.data.workers=0",
      config=CONFIG,
      devices=1,
      timeout=900)
  with open(os.path.join(workdir, "results.json")) as f:
    return builder, workdir, json.load(f)


def test_the_localizer_finds_the_partial_fakes(run):
  _, _, results = run
  test = results["test"]
  assert test["protocol"] == "av_deepfake1m"
  assert test["AP@0.5"] >= 0.8, test
  assert test["AR@50"] >= 0.5, test
  assert test["frame_auc"] >= 0.8 and test["video_auc"] >= 0.75, test
  assert set(test["by_modify_type"]) == {"visual_modified", "both_modified"}


def test_prediction_files_rescore_to_the_results_and_hold_the_ground_truth(run):
  builder, workdir, results = run
  pred = os.path.join(workdir, "predictions")
  for split in ("validation", "test"):
    again = localization.score(f"{pred}/{split}_segments.json", f"{pred}/{split}_metadata.json")
    for key in ("AP@0.5", "AP@0.75", "AR@50", "AR@10", "score"):
      assert again[key] == pytest.approx(results[split][key], abs=1e-9)
  with open(f"{pred}/test_metadata.json") as f:
    meta = {e["file"]: e for e in json.load(f)}
  stored = builder.as_data_source("test")
  assert len(meta) == len(stored)
  for i in range(len(stored)):
    ex = stored[i]
    e = meta[ex["video_id"].decode()]
    np.testing.assert_allclose(
        np.reshape(e["fake_segments"], (-1, 2)), ex["fake_segments"].reshape(-1, 2), atol=1e-6)
    assert e["modify_type"] == ex["modify_type"].decode() and e["split"] == "test"
    assert e["video_frames"] == int(ex["n_frames"])
  with open(f"{pred}/test_scores.txt") as f:
    assert len(f.read().splitlines()) == len(stored)


def test_predict_names_the_fake_segments_of_a_test_video(run):
  builder, workdir, _ = run
  from fakedetect_jax.predict import clip
  from fakedetect_jax.predict.detector import open_detector
  detector = open_detector(workdir)
  assert type(detector).__name__ == "Localizer"
  stored = builder.as_data_source("test")
  videos = os.path.join(builder.data_dir_root, "downloads", "synthetic_av", "partial_tiny")
  checked = set()
  for i in range(len(stored)):
    ex = stored[i]
    method = ex["method"].decode()
    if method in checked:
      continue
    checked.add(method)
    result, _ = clip.analyse(detector, os.path.join(videos, ex["video_id"].decode()))
    truth = ex["fake_segments"].reshape(-1, 2)
    assert result["frames"] == int(ex["n_frames"])
    if method == "real":
      assert result["verdict"] == "real", result["fake_probability"]
      continue
    assert result["verdict"] == "fake", result["fake_probability"]
    found = np.array([[s["start"], s["end"]] for s in result["segments"]]).reshape(-1, 2)
    assert {s["modality"] for s in result["segments"]} <= {"visual", "audio", "both"}
    best = [max(_iou(t, f) for f in found) if len(found) else 0.0 for t in truth]
    assert max(best) >= 0.5, (truth, result["segments"])
  assert checked == {"real", "blend", "mixed"}


def _iou(a, b):
  inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
  return inter / (max(a[1], b[1]) - min(a[0], b[0]))
