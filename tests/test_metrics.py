"""Every metric against scikit-learn, on random scores with and without ties."""
import numpy as np
import pytest
from sklearn import metrics as skm

from fakedetect_jax.evaluate import metrics, video_scores, evaluate_scores


def _cases():
  rng = np.random.default_rng(0)
  for n, ties in ((50, False), (200, True), (7, True), (1000, False)):
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]
    scores = rng.random(n)
    if ties:
      scores = np.round(scores * 5) / 5
    yield labels, scores


@pytest.mark.parametrize("labels,scores", list(_cases()))
def test_auc_ap_roc_match_sklearn(labels, scores):
  assert metrics.auc(labels, scores) == pytest.approx(skm.roc_auc_score(labels, scores), abs=1e-12)
  assert metrics.average_precision(labels, scores) == pytest.approx(
      skm.average_precision_score(labels, scores), abs=1e-12)
  fpr, tpr, thr = metrics.roc_curve(labels, scores)
  sk_fpr, sk_tpr, _ = skm.roc_curve(labels, scores, drop_intermediate=False)
  np.testing.assert_allclose(fpr, sk_fpr)
  np.testing.assert_allclose(tpr, sk_tpr)


@pytest.mark.parametrize("labels,scores", list(_cases()))
def test_eer_tpr_at_fpr_and_accuracies_match_sklearn(labels, scores):
  fpr, tpr, _ = skm.roc_curve(labels, scores, drop_intermediate=False)
  fnr = 1 - tpr
  # Independent EER: intersect the piecewise-linear fpr and fnr curves by dense interpolation.
  t = np.linspace(0, len(fpr) - 1, 200001)
  f, g = np.interp(t, np.arange(len(fpr)), fpr), np.interp(t, np.arange(len(fnr)), fnr)
  i = np.argmin(np.abs(f - g))
  assert metrics.eer(labels, scores) == pytest.approx(f[i], abs=2e-3)
  assert metrics.tpr_at_fpr(labels, scores, 0.01) == pytest.approx(tpr[fpr <= 0.01].max())
  s = metrics.summary(labels, scores, threshold=0.5)
  pred = (scores >= 0.5).astype(int)
  assert s["acc"] == pytest.approx(skm.accuracy_score(labels, pred))
  assert s["balanced_acc"] == pytest.approx(skm.balanced_accuracy_score(labels, pred))
  tn, fp, fn, tp = skm.confusion_matrix(labels, pred).ravel()
  assert (s["tn"], s["fp"], s["fn"], s["tp"]) == (tn, fp, fn, tp)


def test_video_scores_mean_max_confident():
  rng = np.random.default_rng(1)
  video = rng.permutation(np.repeat(np.arange(5), 6))
  p = rng.random(video.size)
  vids, mean = video_scores(p, video, "mean")
  _, mx = video_scores(p, video, "max")
  np.testing.assert_array_equal(vids, np.arange(5))
  for v in range(5):
    assert mean[v] == pytest.approx(p[video == v].mean())
    assert mx[v] == pytest.approx(p[video == v].max())
  # Confident: a video with many confidently fake frames scores their mean, not the overall mean.
  p2 = np.array([0.95, 0.9, 0.92, 0.1, 0.3, 0.2])
  _, conf = video_scores(p2, np.zeros(6, int), "confident")
  assert conf[0] == pytest.approx(np.mean([0.95, 0.9, 0.92]))


def test_evaluate_scores_per_method_and_video_auc():
  rng = np.random.default_rng(2)
  n_videos, frames = 40, 4
  video = np.repeat(np.arange(n_videos), frames)
  vlabel = np.arange(n_videos) % 2
  vmethod = np.where(vlabel == 0, "real",
                     np.where(np.arange(n_videos) % 4 == 1, "blend", "flicker"))
  p = rng.random(video.size)
  r = evaluate_scores(p, vlabel[video], video, vmethod[video])
  _, vs = video_scores(p, video)
  assert r["video_auc"] == pytest.approx(skm.roc_auc_score(vlabel, vs))
  assert r["frame_auc"] == pytest.approx(skm.roc_auc_score(vlabel[video], p))
  keep = vmethod != "flicker"
  assert r["per_method"]["blend"]["video_auc"] == pytest.approx(
      skm.roc_auc_score(vlabel[keep], vs[keep]))
  assert set(r["per_method"]) == {"blend", "flicker"}
