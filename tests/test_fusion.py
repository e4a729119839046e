"""Late fusion: masking, baselines, learned rules recover the informative branch, save/load."""
import numpy as np
import pytest

from fakedetect_jax.evaluate import metrics
from fakedetect_jax.fusion import Fusion, blink_features
from fakedetect_jax.fusion.blink import count_blinks


def _toy(n=400, seed=0):
  """Branch 1 knows the label; branches 0 and 2 are noise; branch 2 is often missing."""
  r = np.random.default_rng(seed)
  y = r.integers(0, 2, n)
  s = np.stack([
      r.uniform(size=n),
      np.clip(0.5 + 0.3 * (2 * y - 1) + 0.25 * r.normal(size=n), 0.01, 0.99),
      r.uniform(size=n)
  ], 1)
  mask = np.ones_like(s, bool)
  mask[::3, 2] = False
  s[~mask] = np.nan
  return s, mask, y


@pytest.mark.parametrize("method", ["logistic", "mlp"])
def test_learned_fusion_recovers_the_informative_branch(method):
  s, m, y = _toy()
  f = Fusion(method, ["a", "b", "c"]).fit(s, m, y)
  ts, tm, ty = _toy(seed=1)
  fused = metrics.auc(ty, f.predict(ts, tm))
  assert fused >= metrics.auc(ty, ts[:, 1]) - 0.02 > 0.8
  assert fused > metrics.auc(ty, Fusion("mean", "abc").predict(ts, tm)) + 0.05
  if method == "logistic":
    w = np.abs(np.asarray(f.params["layers"][0][0])[:3, 0])
    assert w.argmax() == 1 and w[1] > 5 * max(w[0], w[2])


def test_missing_branches_are_masked_not_zero():
  s = np.array([[0.9, np.nan], [0.9, 0.0], [np.nan, np.nan]])
  m = np.isfinite(s)
  mean = Fusion("mean", "ab").predict(s, m)
  assert mean[0] == pytest.approx(0.9) and mean[1] == pytest.approx(0.45) and np.isnan(mean[2])
  assert Fusion("max", "ab").predict(s, m)[0] == pytest.approx(0.9)
  # A learned fusion sees absence through its own indicator: the garbage under the mask
  # does not change the output.
  tr, tm, ty = _toy()
  f = Fusion("logistic", "abc").fit(tr, tm, ty)
  a, b = tr[:5].copy(), tr[:5].copy()
  mask = np.ones_like(a, bool)
  mask[:, 2] = False
  a[:, 2], b[:, 2] = 0.0, 1.0
  np.testing.assert_allclose(f.predict(a, mask), f.predict(b, mask))


def test_fusion_round_trips_through_a_dict():
  s, m, y = _toy()
  f = Fusion("mlp", "abc").fit(s, m, y)
  g = Fusion.from_dict(f.to_dict())
  np.testing.assert_allclose(f.predict(s, m), g.predict(s, m))


def test_blink_features():
  ear = np.full((2, 50), 0.3)
  ear[0, 10:13] = ear[0, 30:33] = 0.1  # two blinks in 2 s
  t = np.tile(np.arange(50) / 25.0, (2, 1))
  found = np.ones((2, 50), bool)
  found[1] = False
  feats = blink_features(ear, t, found)
  assert count_blinks(ear[0]) == 2
  assert feats[0, 0] == pytest.approx(2 / (49 / 25.0))
  assert feats[0, 3] == pytest.approx(0.1) and np.isnan(feats[1]).all()


def test_blink_features_feed_the_learned_fusion():
  """Fakes that never blink (In Ictu Oculi): the branch scores are noise, the blink rate is not;
  the fusion reading blink features finds them, keeps them through save/load, and refuses to
  predict without them."""

  def videos(n, seed):
    r = np.random.default_rng(seed)
    y = r.integers(0, 2, n)
    ear = np.full((n, 100), 0.3) + 0.01 * r.normal(size=(n, 100))
    for i in np.flatnonzero(y == 0):  # real people blink two or three times in 4 s
      for start in r.choice(np.arange(5, 90, 12), r.integers(2, 4), replace=False):
        ear[i, start:start + 4] = 0.1
    t = np.tile(np.arange(100) / 25.0, (n, 1))
    return r.uniform(size=(n, 2)), y, blink_features(ear, t)

  s, y, extra = videos(200, 0)
  f = Fusion("logistic", ["a", "b"], extra_names=("blink_rate", "ear_mean", "ear_std", "ear_min"))
  f.fit(s, None, y, extra=extra)
  ts, ty, textra = videos(200, 1)
  assert metrics.auc(ty, f.predict(ts, None, textra)) > 0.95
  assert metrics.auc(ty, Fusion("logistic", ["a", "b"]).fit(s, None, y).predict(ts)) < 0.7
  g = Fusion.from_dict(f.to_dict())
  np.testing.assert_allclose(g.predict(ts, None, textra), f.predict(ts, None, textra))
  with pytest.raises(ValueError, match="extra features"):
    g.predict(ts, None)
