"""DeepfakeBench's metrics beside ours, and bootstrap intervals of the AUCs: each against
scikit-learn called as DeepfakeBench calls it (tests/dfb_reference.py)."""
import numpy as np
import pytest
from sklearn import metrics as skm

import dfb_reference
from fakedetect_jax.evaluate import deepfakebench, evaluate_scores, metrics
from fakedetect_jax.evaluate.report import auc_intervals, markdown_table

METHODS = ("Deepfakes", "Face2Face")


def _prediction_file(path, n_real=8, frames=5, seed=0):
  """A prediction file as save_predictions writes one: frame scores (ties included), labels,
  video index, methods and FF++-style video ids, two methods faking the same target videos (so
  their names collide, as FF++'s do)."""
  rng = np.random.default_rng(seed)
  ids = [f"original_sequences/youtube/c23/videos/{i:03d}.mp4" for i in range(n_real)]
  ids += [
      f"manipulated_sequences/{m}/c23/videos/{i:03d}_{i + 100:03d}.mp4" for m in METHODS
      for i in range(n_real // 2)
  ]
  methods = ["real"] * n_real + [m for m in METHODS for _ in range(n_real // 2)]
  video_label = np.array([m != "real" for m in methods], np.int32)
  video_index = np.repeat(np.arange(len(ids)), frames).astype(np.int32)
  labels = video_label[video_index]
  scores = np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0, 1)
  scores = np.round(scores * 20) / 20  # ties, as a saturated model gives
  np.savez(
      path,
      scores=scores,
      labels=labels,
      video_index=video_index,
      methods=np.array(methods)[video_index],
      video_ids=np.array(ids))
  return path


def test_deepfakebench_block_equals_their_formulas_on_a_prediction_file(tmp_path):
  with np.load(_prediction_file(tmp_path / "test.npz")) as f:
    p = {k: f[k] for k in f.files}
  r = evaluate_scores(
      p["scores"], p["labels"], p["video_index"], p["methods"], video_ids=p["video_ids"])
  block = r["deepfakebench"]
  want = dfb_reference.frame_metrics(p["scores"], p["labels"],
                                     dfb_reference.frame_paths(p["video_ids"], p["video_index"]))
  assert block["level"] == "frame"
  assert block["frame_auc"] == pytest.approx(want["auc"], abs=1e-12)
  assert block["frame_eer"] == pytest.approx(want["eer"], abs=1e-12)
  assert block["frame_ap"] == pytest.approx(want["ap"], abs=1e-12)
  assert block["frame_acc"] == pytest.approx(want["acc"], abs=1e-12)
  assert block["video_auc"] == pytest.approx(want["video_auc"], abs=1e-12)
  # Their videos are folder names: the two methods' fakes of one target pool into one.
  assert block["n_videos"] == want["n_videos"] == r["n_videos"] - len(p["video_ids"]) // 4
  assert block["n_frames"] == len(p["scores"])
  # Ours stays as it was, under names that say the level.
  assert r["video_eer"] == r["eer"] and r["video_ap"] == r["ap"]
  table = markdown_table({"test": r})
  assert "video EER (interp.)" in table and "frame EER (nearest ROC point)" in table


def test_video_level_block_has_no_frame_numbers():
  rng = np.random.default_rng(1)
  video_index = np.repeat(np.arange(12), 2)  # two clips per video
  labels = (np.arange(12) % 2)[video_index]
  scores = np.round(rng.random(24) * 10) / 10
  r = evaluate_scores(scores, labels, video_index, frame_level=False)
  block = r["deepfakebench"]
  assert block["level"] == "video" and not [k for k in block if k.startswith("frame_")]
  vscores = np.array([scores[video_index == v].mean() for v in range(12)])
  want = dfb_reference.video_metrics(vscores, np.arange(12) % 2)
  for key in ("auc", "eer", "ap", "acc"):
    assert block[f"video_{key}"] == pytest.approx(want[key], abs=1e-12), key
  assert block["n_videos"] == 12


def _tied_cases():
  rng = np.random.default_rng(2)
  for n, levels in ((30, 3), (60, 5), (200, 10), (500, 0)):
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]
    scores = rng.random(n) + 0.3 * labels
    yield labels, (np.round(scores * levels) / levels if levels else scores)
  # Every threshold admits one real and one fake: scikit-learn's curve keeps only the ends of the
  # diagonal, and their EER is 0.1 where the full curve's nearest point is 0.5.
  yield np.tile([0, 1], 10), np.repeat(np.arange(10) / 10, 2)


@pytest.mark.parametrize("labels,scores", list(_tied_cases()))
def test_eer_nearest_is_theirs_on_tied_scores(labels, scores):
  want = dfb_reference.video_metrics(scores, labels)["eer"]
  assert metrics.eer_nearest(labels, scores) == pytest.approx(want, abs=1e-12)
  fpr, tpr, _ = metrics.roc_curve(labels, scores, drop_intermediate=True)
  sk_fpr, sk_tpr, _ = skm.roc_curve(labels, scores)
  np.testing.assert_allclose(fpr, sk_fpr)
  np.testing.assert_allclose(tpr, sk_tpr)


def test_diagonal_case_differs_from_the_full_curve():
  labels, scores = list(_tied_cases())[-1]
  fpr, tpr, _ = skm.roc_curve(labels, scores, drop_intermediate=False)
  assert metrics.eer_nearest(labels, scores) == pytest.approx(0.1)
  assert dfb_reference.nearest_eer(fpr, tpr) == pytest.approx(0.5)


def test_bootstrap_replicates_are_the_aucs_of_the_drawn_videos():
  rng = np.random.default_rng(3)
  n_videos, frames = 16, 3
  video_label = np.arange(n_videos) % 2
  groups = np.repeat(rng.permutation(n_videos), frames)  # videos in any row order
  labels = video_label[groups]
  scores = np.round(rng.random(labels.size) + 0.4 * labels, 1)
  reps = metrics.bootstrap_aucs(labels, scores, groups, n=40, seed=7)
  draws = metrics.bootstrap_draws(video_label, n=40, seed=7)
  for b, drawn in enumerate(draws):
    assert sorted(video_label[drawn]) == sorted(video_label)  # stratified by label
    rows = np.concatenate([np.flatnonzero(groups == v) for v in drawn])
    assert reps[b] == pytest.approx(skm.roc_auc_score(labels[rows], scores[rows]), abs=1e-12)


def _videos(n, rng):
  labels = np.arange(n) % 2
  return labels, rng.normal(labels * 1.0, 1.0)


def test_bootstrap_ci_contains_the_auc_and_narrows_with_more_videos():
  rng = np.random.default_rng(4)
  widths = []
  for n in (40, 400):
    labels, scores = _videos(n, rng)
    lo, hi = metrics.bootstrap_ci(labels, scores, n=500, seed=0)
    assert lo <= skm.roc_auc_score(labels, scores) <= hi
    widths.append(hi - lo)
  assert widths[1] < 0.6 * widths[0]  # ~1/sqrt(10) of it in theory
  # A frame AUC resamples whole videos: frames that repeat their video's score give the video
  # AUC's replicates, with the same draws.
  labels, scores = _videos(30, rng)
  groups = np.repeat(np.arange(30), 4)
  np.testing.assert_allclose(
      metrics.bootstrap_aucs(labels[groups], scores[groups], groups, n=200, seed=5),
      metrics.bootstrap_aucs(labels, scores, n=200, seed=5))


def test_auc_intervals_cover_every_auc_of_a_split(tmp_path):
  with np.load(_prediction_file(tmp_path / "test.npz", n_real=12)) as f:
    p = {k: f[k] for k in f.files}
  args = (p["scores"], p["labels"], p["video_index"], p["methods"])
  r = evaluate_scores(*args, video_ids=p["video_ids"])
  out = auc_intervals(*args, video_ids=p["video_ids"], n=300)
  ci, reps = out["auc_ci"], out["auc_bootstrap"]
  assert set(ci["per_method"]) == set(METHODS) and len(reps["frame_auc"]) == 300
  cells = [(r["video_auc"], ci["video_auc"]), (r["frame_auc"], ci["frame_auc"]),
           (r["deepfakebench"]["video_auc"], ci["deepfakebench"]["video_auc"])]
  cells += [(r["per_method"][m][k], ci["per_method"][m][k])
            for m in METHODS
            for k in ("video_auc", "frame_auc")]
  for value, (lo, hi) in cells:
    assert lo <= value <= hi
  # The interval is the percentile interval of the stored replicates.
  assert ci["frame_auc"] == pytest.approx(
      list(np.percentile(reps["frame_auc"], [2.5, 97.5])), abs=1e-5)
  assert deepfakebench.video_name(p["video_ids"][-1]) == "005_105"
