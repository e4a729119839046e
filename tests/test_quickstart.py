"""The README's main job on the embedded dataset, through TFDS, as a user runs it (tiny sizes)."""
import json
import os

import numpy as np

from conftest import run_main
from fakedetect_jax import config_lib
from fakedetect_jax.input import sources


def test_quickstart_trains_and_reports_on_synthetic_av(tmp_path, synthetic_tiny):
  builder, data_dir = synthetic_tiny
  workdir = tmp_path / "run"
  args = [
      f"--config.data.data_dir={data_dir}", "--config.batch_size=16", "--config.eval.batch_size=32",
      "--config.eval_every=25", "--config.checkpoint_every=25"
  ]
  run_main(workdir, *args, config="configs/quickstart.py:steps=50,data_config=tiny,size=64")
  results = json.loads((workdir / "results.json").read_text())
  assert set(results) == {"validation", "test"}
  for split in results.values():
    for key in ("frame_auc", "video_auc", "eer", "ap", "acc", "balanced_acc", "tpr_at_fpr_1pct"):
      assert 0.0 <= split[key] <= 1.0
    # The quickstart's task: real video (real, voice) against spatial blending only.
    assert split["n_videos"] == 8 and split["n_frames"] == 32
    assert sorted(split["per_method"]) == ["blend", "blend-voice"]
  for name in ("results.md", "roc.png", "metrics.jsonl", "config.json", "config_hash"):
    assert (workdir / name).exists(), name
  assert os.listdir(workdir / "tensorboard")
  saved = json.loads((workdir / "config.json").read_text())
  assert saved["data"]["methods"] == ["real", "voice", "blend", "blend-voice"]
  assert (workdir / "config_hash").read_text().strip() == config_lib.config_hash(
      config_lib.base_config().__class__(saved))


def test_source_rows_are_the_builders_face_crops(synthetic_tiny):
  builder, data_dir = synthetic_tiny
  config = config_lib.base_config()
  config.data.config, config.data.data_dir, config.data.image_size = "tiny", data_dir, 32
  test = sources.open_split(config.data, "test")
  stored = builder.as_data_source("test")
  examples = [stored[i] for i in range(len(stored))]
  assert len(test) == 4 * len(examples)
  order = {v: i for i, v in enumerate(test.video_ids)}
  for ex in examples:
    rows = np.flatnonzero(test.video_index == order[ex["video_id"].decode()])
    assert test.labels[rows].tolist() == [ex["label"]] * 4
    assert set(test.methods[rows]) == {ex["method"].decode()}
    # A row's image is the builder's face crop of its frame, resized (64 -> 32 px): compare
    # at 32 px.
    small = np.asarray(ex["frames"]).reshape(4, 32, 2, 32, 2, 3).mean((2, 4))
    images = np.stack([test[i]["inputs"]["image"] for i in rows])
    assert images.shape == (4, 32, 32, 3) and images.dtype == np.uint8
    assert np.abs(images.astype(float) - small[test.row_part[rows]]).mean() < 6
