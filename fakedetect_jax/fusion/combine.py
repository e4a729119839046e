"""Fusion rules: mean and max baselines, logistic regression and a small MLP (fitted with
scikit-learn on the validation split, applied with numpy so a saved fusion needs no pickle)."""
import numpy as np

METHODS = ("mean", "max", "logistic", "mlp")
_EPS = 1e-7  # float32 probabilities saturate near 1 - 6e-8


def _logit(p):
  p = np.clip(p, _EPS, 1 - _EPS)
  return np.log(p) - np.log1p(-p)


def _check(scores, mask):
  scores = np.asarray(scores, np.float64)
  mask = np.isfinite(scores) if mask is None else np.asarray(mask, bool) & np.isfinite(scores)
  if scores.ndim != 2 or mask.shape != scores.shape:
    raise ValueError(f"scores {scores.shape} and mask {mask.shape} must both be [videos, branches]")
  return scores, mask


def features(scores, mask, extra=None):
  """[N, 2K (+E)]: the logit of each present branch (0 where absent) and its presence flag."""
  scores, mask = _check(scores, mask)
  x = np.concatenate(
      [np.where(mask, _logit(np.where(mask, scores, 0.5)), 0.0),
       mask.astype(np.float64)], 1)
  if extra is not None:
    extra = np.asarray(extra, np.float64)
    x = np.concatenate([
        x,
        np.where(np.isfinite(extra), extra, 0.0),
        np.isfinite(extra).all(1, keepdims=True).astype(np.float64)
    ], 1)
  return x


def _balanced_rows(labels, seed):
  """Row indices with each class repeated up to the size of the largest (MLPClassifier has no
  class weights)."""
  rng = np.random.default_rng(seed)
  classes = [np.flatnonzero(labels == c) for c in np.unique(labels)]
  most = max(len(c) for c in classes)
  return np.concatenate([np.concatenate([c, rng.choice(c, most - len(c))]) for c in classes])


class Fusion:
  """One fusion rule over branches `names`; `fit` (learned rules) then `predict`."""

  def __init__(self, method, names, params=None, extra_names=()):
    """extra_names: per-video features beside the branch scores that the learned rules read
    (e.g. blink.FEATURES); `fit` and `predict` then take them as `extra` [N, E]."""
    if method not in METHODS:
      raise ValueError(f"unknown fusion {method!r}; known: {', '.join(METHODS)}")
    self.method, self.names, self.params = method, list(names), params or {}
    self.extra_names = list(extra_names) if method in ("logistic", "mlp") else []

  def _extra(self, extra):
    if not self.extra_names:
      return None
    if extra is None or np.shape(extra)[-1] != len(self.extra_names):
      raise ValueError(
          f"this fusion reads {len(self.extra_names)} extra features "
          f"({', '.join(self.extra_names)}); got {None if extra is None else np.shape(extra)}")
    return extra

  def fit(self, scores, mask, labels, extra=None, seed=0):
    if self.method in ("mean", "max"):
      return self
    extra = self._extra(extra)
    x = features(scores, mask, extra)
    mu, sd = x.mean(0), x.std(0) + 1e-6
    z = (x - mu) / sd
    labels = np.asarray(labels).astype(int)
    # Classes weighted equally: deepfake sets hold many more fakes than reals (FakeAVCeleb about
    # 40:1), and an unweighted fit would learn mostly how fakes differ from each other.
    if self.method == "logistic":
      from sklearn.linear_model import LogisticRegression
      m = LogisticRegression(C=1.0, max_iter=5000, class_weight="balanced").fit(z, labels)
      layers = [(m.coef_.T, m.intercept_)]
    else:
      from sklearn.neural_network import MLPClassifier
      rows = _balanced_rows(labels, seed)
      m = MLPClassifier((16,), alpha=1e-2, max_iter=5000,
                        random_state=seed).fit(z[rows], labels[rows])
      layers = list(zip(m.coefs_, m.intercepts_))
    self.params = {
        "mean": mu.tolist(),
        "std": sd.tolist(),
        "layers": [[w.tolist(), b.tolist()] for w, b in layers]
    }
    return self

  def predict(self, scores, mask=None, extra=None):
    """Fake probability per video; NaN where no branch has input."""
    scores, mask = _check(scores, mask)
    any_branch = mask.any(1)
    if self.method == "mean":
      out = np.sum(np.where(mask, scores, 0.0), 1) / np.maximum(mask.sum(1), 1)
    elif self.method == "max":
      out = np.max(np.where(mask, scores, -np.inf), 1)
    else:
      h = (features(scores, mask, self._extra(extra)) -
           np.asarray(self.params["mean"])) / np.asarray(self.params["std"])
      layers = self.params["layers"]
      for i, (w, b) in enumerate(layers):
        h = h @ np.asarray(w) + np.asarray(b)
        if i < len(layers) - 1:
          h = np.maximum(h, 0.0)
      out = 1.0 / (1.0 + np.exp(-h[:, 0]))
    return np.where(any_branch, out, np.nan)

  def to_dict(self):
    return {
        "method": self.method,
        "names": self.names,
        "params": self.params,
        "extra_names": self.extra_names
    }

  @classmethod
  def from_dict(cls, d):
    return cls(d["method"], d["names"], d["params"], d.get("extra_names", ()))
