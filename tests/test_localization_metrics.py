"""Localization metrics: the avdeepfake1m SDK's AP/AR against hand-worked numbers, and our
prediction writers, Soft-NMS and frame-score proposals against hand computation."""
import json
import math
import sys
import zipfile

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from fakedetect_jax.errors import DataError
from fakedetect_jax.evaluate import localization as loc

# 6 fake segments in 4 fake videos, 2 reals: one entry per modify type.
GT = {
    "v1.mp4": ("visual_modified", [[1.0, 2.0]]),
    "v2.mp4": ("visual_modified", [[3.0, 4.0]]),
    "a1.mp4": ("audio_modified", [[0.5, 1.2], [3.0, 3.6]]),
    "b1.mp4": ("both_modified", [[2.0, 2.8], [0.5, 1.5]]),
    "r1.mp4": ("real", []),
    "r2.mp4": ("real", []),
}
# v1, v2, b1 exact; a1 wrong; a false alarm on r1 between v1 and v2; nothing on r2.
PREDS = {
    "v1.mp4": [[0.9, 1.0, 2.0]],
    "v2.mp4": [[0.7, 3.0, 4.0]],
    "a1.mp4": [[0.6, 6.0, 7.0]],
    "b1.mp4": [[0.95, 2.0, 2.8], [0.85, 0.5, 1.5]],
    "r1.mp4": [[0.8, 5.0, 6.0]],
    "r2.mp4": [],
}


def _entry(file, kind, segs):
  visual = segs if kind in ("visual_modified", "both_modified") else []
  audio = segs if kind in ("audio_modified", "both_modified") else []
  return dict(
      file=file,
      split="val",
      modify_type=kind,
      fake_segments=segs,
      visual_fake_segments=visual,
      audio_fake_segments=audio,
      video_frames=100,
      audio_frames=64000)


@pytest.fixture
def meta(tmp_path):
  return loc.write_metadata(tmp_path / "val_metadata.json",
                            [_entry(f, k, s) for f, (k, s) in GT.items()])


def _shifted(d):
  return {f: [[1.0, a + d, b + d] for a, b in segs] for f, (_, segs) in GT.items()}


def _recall(d, thresholds):
  # One proposal per segment, so recall at t is the share of segments with IoU > t.
  ious = [(max(0, b - a - d)) / (b - a + d) for _, segs in GT.values() for a, b in segs]
  return np.mean([np.mean([iou > t for iou in ious]) for t in thresholds])


def test_perfect_file_full_recall_and_ap_short_of_one_by_the_first_recall_step(meta, tmp_path):
  got = loc.score(loc.write_segments(tmp_path / "s.json", _shifted(0.0)), meta)
  assert all(got[f"AR@{n}"] == 1.0 for n in (50, 30, 20, 10, 5))
  # The SDK counts no area for the first recall step (0 -> 1/6): AP = 1 - 1/6, not 1.
  assert all(got[f"AP@{t}"] == pytest.approx(5 / 6, abs=1e-6) for t in (0.5, 0.75, 0.9, 0.95))
  assert got["score"] == pytest.approx(5 / 12 + 1 / 2, abs=1e-6)


def test_shifted_files_score_lower_the_further_they_shift(meta, tmp_path):
  scores = []
  for d in (0.0, 0.03, 0.07, 0.13, 0.21, 0.33, 0.8):  # no IoU within 0.002 of a threshold
    got = loc.score(loc.write_segments(tmp_path / f"s{d}.json", _shifted(d)), meta)
    ar_iou = loc.PROTOCOLS["av_deepfake1m"].ar_iou
    assert got["AR@50"] == pytest.approx(_recall(d, ar_iou), abs=1e-6)
    scores.append(got["score"])
  assert all(a > b for a, b in zip(scores, scores[1:])), scores
  assert scores[-1] == 0.0


def test_ap_is_segment_level_pooled_with_the_sdk_first_step_rule(meta, tmp_path):
  # Ranked over the split: b1 T .95, v1 T .9, b1 T .85, r1 F .8, v2 T .7, a1 F .6, r2 F 0.
  # Recall 1/6 .. 4/6; the precision envelope times each recall step after the first:
  # 1/6 * 1 + 1/6 * 1 + 1/6 * 4/5 (standard all-point AP would add the first 1/6 * 1).
  got = loc.score(loc.write_segments(tmp_path / "s.json", PREDS), meta)
  ap = 1 / 6 + 1 / 6 + 1 / 6 * 4 / 5
  assert [got[f"AP@{t}"] for t in (0.5, 0.75, 0.9, 0.95)] == pytest.approx([ap] * 4, abs=1e-6)
  assert got["AR@5"] == pytest.approx(4 / 6, abs=1e-6)
  assert got["mean_AP"] == pytest.approx(ap, abs=1e-6)
  assert got["score"] == pytest.approx(got["mean_AP"] / 2 + got["mean_AR"] / 2)
  lavdf = loc.score(tmp_path / "s.json", meta, "lavdf")
  assert list(lavdf) == [
      "AP@0.5", "AP@0.75", "AP@0.95", "AR@100", "AR@50", "AR@20", "AR@10", "mean_AP", "mean_AR",
      "score"
  ]


def test_hand_worked_ap_and_strict_iou(tmp_path):
  # 2 segments, 3 proposals: T .9, F .8, T .7 -> precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1.
  m = loc.write_metadata(tmp_path / "m.json", [_entry("x.mp4", "both_modified", [[0, 1], [2, 3]])])
  s = loc.write_segments(tmp_path / "s.json", {"x.mp4": [[0.9, 0, 1], [0.8, 5, 6], [0.7, 2, 3]]})
  assert loc.score(s, m)["AP@0.5"] == pytest.approx(1 / 2 * 2 / 3, abs=1e-6)  # not 5/6
  # IoU must exceed the threshold: [0, 1] against [0, 2] is exactly 0.5 and never recalled.
  m = loc.write_metadata(tmp_path / "m1.json", [_entry("x.mp4", "visual_modified", [[0, 2]])])
  for end, recall in ((1.0, 0.0), (1.02, 0.1)):  # 1.02: IoU 0.51 > 0.5 only
    s = loc.write_segments(tmp_path / "s1.json", {"x.mp4": [[0.9, 0, end]]})
    assert loc.score(s, m)["AR@50"] == pytest.approx(recall, abs=1e-6)


def test_score_by_type_keeps_the_reals_false_alarms(meta, tmp_path):
  s = loc.write_segments(tmp_path / "s.json", PREDS)
  got = loc.score_by_type(s, meta)
  assert list(got) == ["visual_modified", "audio_modified", "both_modified"]
  # visual + reals: v1 T .9, r1 F .8, v2 T .7, r2 F 0 -> 1/2 * 2/3; without reals T, T -> 1/2.
  assert got["visual_modified"]["AP@0.5"] == pytest.approx(1 / 3, abs=1e-6)
  assert got["audio_modified"]["AP@0.5"] == 0.0 and got["audio_modified"]["AR@50"] == 0.0
  assert got["both_modified"]["AP@0.95"] == pytest.approx(1 / 2, abs=1e-6)
  assert got["visual_modified"]["AR@5"] == got["both_modified"]["AR@5"] == 1.0
  alone = loc.score_by_type(s, meta, with_real=False)
  assert alone["visual_modified"]["AP@0.5"] == pytest.approx(1 / 2, abs=1e-6)


def test_write_segments_sorts_rows_and_stands_in_for_no_proposal(tmp_path):
  path = loc.write_segments(tmp_path / "p/s.json", {"x.mp4": [[0.2, 0, 1], [0.7, 2, 3]], "y": []})
  assert json.loads(path.read_text()) == {"x.mp4": [[0.7, 2, 3], [0.2, 0, 1]], "y": [[0, 0, 0]]}
  # A file written by hand in another order still scores, with a warning: the SDK reads rows
  # in file order.
  (tmp_path / "u.json").write_text(json.dumps({"x.mp4": [[0.2, 0, 1], [0.7, 2, 3]]}))
  m = loc.write_metadata(tmp_path / "m.json", [_entry("x.mp4", "visual_modified", [[0, 1]])])
  with pytest.warns(UserWarning, match="rows of 1 videos are not sorted by score"):
    loc.score(tmp_path / "u.json", m)


def test_bad_files_are_one_line_naming_the_file(meta, tmp_path):
  cases = [
      (tmp_path / "none.json", meta, "none.json: no such file"),
      (loc.write_segments(tmp_path / "s.json",
                          {"v1.mp4": [[1, 1, 2]]}), meta, "no prediction for 5 of the 6 files"),
      (tmp_path / "empty.json", meta, "an empty row list"),
      (tmp_path / "s.json", tmp_path / "s.json", "expected AV-Deepfake1M metadata"),
  ]
  (tmp_path / "empty.json").write_text(json.dumps({f: [] for f in GT}))
  for segments, metadata, message in cases:
    with pytest.raises(DataError, match=message) as e:
      loc.score(segments, metadata)
    assert "\n" not in str(e.value)
  with pytest.raises(DataError, match=r"m.json: x.mp4: missing metadata fields \['split'"):
    loc.write_metadata(tmp_path / "m.json", [{"file": "x.mp4", "fake_segments": []}])
  with pytest.raises(DataError, match="x.mp4: modify_type 'real' with 1 fake segments"):
    loc.write_metadata(tmp_path / "m.json", [_entry("x.mp4", "real", [[0, 1]])])
  with pytest.raises(DataError, match=r"s.json: x.mp4: expected finite rows"):
    loc.write_segments(tmp_path / "s.json", {"x.mp4": [[0.5, 2, 1]]})


def test_sdk_missing_names_the_pip_command(monkeypatch):
  monkeypatch.setitem(sys.modules, "avdeepfake1m", None)  # how Python marks "not importable"
  loc._evaluation.cache_clear()
  try:
    with pytest.raises(loc.EvaluatorMissing, match="pip install --no-deps avdeepfake1m==0.0.4"):
      loc._evaluation()
  finally:
    loc._evaluation.cache_clear()


def test_soft_nms_decays_by_hand():
  a, b, c, d = [0.9, 0, 2], [0.8, 1, 3], [0.5, 10, 11], [0.7, 2, 4]
  # IoU(a, b) = IoU(d, b) = 1/3, every other pair 0: b decays twice by exp(-(1/9) / 0.5).
  got = loc.soft_nms([b, c, a, d], sigma=0.5)
  want = [a, d, [0.8 * math.exp(-4 / 9), 1, 3], c]
  np.testing.assert_allclose(got, want, rtol=1e-12)
  np.testing.assert_allclose(loc.soft_nms([b, c, a, d], sigma=0.5, top_k=2), want[:2])
  # min_score drops rows as they decay below it (b after d), and never-decayed ones (c).
  np.testing.assert_allclose(loc.soft_nms([b, c, a, d], sigma=0.5, min_score=0.6), want[:2])
  np.testing.assert_array_equal(loc.soft_nms([[0.3, 1, 2]]), [[0.3, 1, 2]])
  assert loc.soft_nms(np.zeros((0, 3))).shape == (0, 3)


def test_segments_from_frame_scores_recovers_runs(meta, tmp_path):
  s = np.full(100, 0.1)
  s[25:50], s[30:40], s[75:85] = 0.6, 0.95, 0.6
  got = loc.segments_from_frame_scores(s, fps=25)
  np.testing.assert_allclose(got, [[0.95, 1.2, 1.6], [0.74, 1.0, 2.0], [0.6, 3.0, 3.4]])
  np.testing.assert_allclose(loc.segments_from_frame_scores(s, 25, 0.9), [[0.95, 1.2, 1.6]])
  # Frame labels from the ground truth (frame centre inside a segment) give back the segments.
  t = (np.arange(125) + 0.5) / 25
  frames = {
      f: np.any([(t > a) & (t < b) for a, b in segs] or [t < 0], 0) for f, (_, segs) in GT.items()
  }
  preds = {f: loc.segments_from_frame_scores(v, 25) for f, v in frames.items()}
  got = loc.score(loc.write_segments(tmp_path / "s.json", preds), meta)
  assert got["AR@5"] == 1.0 and got["AP@0.95"] == pytest.approx(5 / 6, abs=1e-6)


def test_clip_auc_is_the_sdk_auroc_equal_to_sklearn(meta, tmp_path):
  scores = {"v1.mp4": 0.9, "v2.mp4": 0.4, "a1.mp4": 0.3, "b1.mp4": 0.7, "r1.mp4": 0.4, "r2.mp4": 0}
  txt = loc.write_scores(tmp_path / "scores.txt", scores)
  labels = [int(bool(segs)) for _, segs in GT.values()]
  assert loc.clip_auc(txt, meta) == pytest.approx(roc_auc_score(labels, list(scores.values())))
  assert "avdeepfake1m.utils" not in sys.modules  # the import stand-ins are gone again
  loc.write_scores(txt, {"v1.mp4": 0.9})
  with pytest.raises(DataError, match="scores.txt: no prediction for 5 of the 6 files"):
    loc.clip_auc(txt, meta)


def test_submission_zip_holds_the_two_prediction_files(tmp_path):
  files = ["t/1.mp4", "t/2.mp4"]
  path = loc.write_submission(
      tmp_path, {f: [[0.5, 1, 2]] for f in files}, {f: 0.5 for f in files}, files=files)
  with zipfile.ZipFile(path) as z:
    assert sorted(z.namelist()) == ["prediction.json", "prediction.txt"]
    assert z.read("prediction.txt").decode() == "t/1.mp4;0.5\nt/2.mp4;0.5\n"
    assert json.loads(z.read("prediction.json")) == {f: [[0.5, 1, 2]] for f in files}
  with pytest.raises(DataError, match=r"1 test files without a prediction \['t/2.mp4'\]"):
    loc.write_submission(tmp_path, None, {"t/1.mp4": 0.5}, files=files)


def test_lavdf_entries_convert():
  e = dict(
      file="test/1.mp4",
      split="test",
      fake_periods=[[1.0, 1.5]],
      modify_video=False,
      modify_audio=True,
      video_frames=80,
      audio_frames=51200,
      original="train/2.mp4")
  got = loc.lavdf_metadata(e)
  assert (got["modify_type"], got["audio_fake_segments"],
          got["visual_fake_segments"]) == ("audio_modified", [[1.0, 1.5]], [])
  assert loc.lavdf_metadata({**e, "modify_video": True})["modify_type"] == "both_modified"


def test_a_run_submission_names_videos_as_the_challenge_does(tmp_path):
  from fakedetect_jax.train import localize_eval
  assert localize_eval.challenge_name("AV-Deepfake1M/test/000001.mp4") == "000001.mp4"
  assert localize_eval.challenge_name("test/id1/a.mp4") == "id1/a.mp4"
  assert localize_eval.challenge_name("a.mp4") == "a.mp4"
  base = tmp_path / "predictions" / "submission"
  loc.write_segments(f"{base}_segments.json", {
      "root/test/1.mp4": [[0.9, 1.0, 2.0]],
      "root/test/2.mp4": []
  })
  loc.write_scores(f"{base}_scores.txt", {"root/test/1.mp4": 0.9, "root/test/2.mp4": 0.1})
  path = localize_eval.write_run_submission(str(tmp_path), files=["1.mp4", "2.mp4"])
  with zipfile.ZipFile(path) as z:
    segments = json.loads(z.read("prediction.json"))
    lines = z.read("prediction.txt").decode().split()
  assert segments == {"1.mp4": [[0.9, 1.0, 2.0]], "2.mp4": [loc.NO_PROPOSAL]}
  assert lines == ["1.mp4;0.9", "2.mp4;0.1"]
  with pytest.raises(DataError, match="1 test files without a prediction"):
    localize_eval.write_run_submission(str(tmp_path), files=["1.mp4", "2.mp4", "3.mp4"])


def test_results_table_shows_the_localization_block():
  from fakedetect_jax import evaluate
  r = {
      "AP@0.5": 0.9,
      "AP@0.75": 0.5,
      "AR@50": 0.8,
      "AR@10": 0.7,
      "mean_AP": 0.7,
      "mean_AR": 0.75,
      "score": 0.725,
      "protocol": "av_deepfake1m",
      "n_videos": 4,
      "by_modify_type": {
          "visual_modified": {
              "AP@0.5": 1.0,
              "mean_AP": 1.0,
              "n_videos": 3
          }
      }
  }
  table = evaluate.markdown_table({"test": r})
  header = next(l for l in table.splitlines() if l.startswith("| split | AP@0.5"))
  assert header.split(" | ")[1:8] == [
      "AP@0.5", "AP@0.75", "AR@50", "AR@10", "mean_AP", "mean_AR", "score"
  ]
  assert "| test (av_deepfake1m) | 0.9000 | 0.5000 | 0.8000 | 0.7000 | 0.7000 | 0.7500 | 0.7250 |" \
      in table
  assert "| test / visual_modified | 1.0000 | - |" in table
