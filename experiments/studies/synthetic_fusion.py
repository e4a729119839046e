"""Every branch and their fusion on the embedded synthetic_av dataset: the proof that each branch
catches its own kind of fake and that the learned fusion beats every single branch.

  python -m fakedetect_jax.studies run experiments/studies/synthetic_fusion.py --workdir=W
  python -m fakedetect_jax.studies run experiments/studies/synthetic_fusion.py:preset=proof ...

Branches (configs/fusion.py: each trained by the one train loop, on the fakes it is meant to see
plus all real videos, evaluated on every video of validation and test):
  spatial   MesoNet-4 on single frames          (blend)
  temporal  a temporal transformer on clips     (flicker)
  lipsync   sync pre-training, then classifier  (lipsync: mouth does not follow the voice)
  audio     log-mel CNN                         (voice: converted voice)
The study's argument: preset (full | proof, configs/fusion.py), data_config, clip_len,
temporal_clip_len, face_size, scale (configs/fusion.py's arguments, passed on to every branch),
branches (':'-separated, default every one) and blink (true: the learned fusions also read the
eye-blink features, fusion/blink.py). A video lacking a branch's input (no face, no audio track)
has that branch masked.
The report fits the fusions (mean, max, logistic, mlp) on validation scores and scores them on
test: W/report/results.json {"branches": {branch: {"overall": auc, category/method: auc}},
"fusion": {rule: {...}}, "auc_ci": {"branches": {branch: {key: [lo, hi]}}, "fusion": {...}}} (test
video AUCs and their 95% bootstrap intervals), W/report/results.md, and every test video's branch
and fused scores in
W/report/test_scores.json. Once every run finished, finish() saves the fused detector (the
logistic fusion, its threshold chosen on validation) to W/detector (fusion.load_detector;
`python -m fakedetect_jax.predict VIDEO --detector=W/detector`).
Re-running resumes: finished branches are not retrained.
"""
import numpy as np

from fakedetect_jax.studies import Eval, Run

CATEGORIES = ("RealVideo-FakeAudio", "FakeVideo-RealAudio", "FakeVideo-FakeAudio")
REAL_CATEGORY = "RealVideo-RealAudio"
# Category of a video from its (video label, audio label), 0 = real, 1 = fake.
CATEGORY = {
    (0, 0): REAL_CATEGORY,
    (0, 1): CATEGORIES[0],
    (1, 0): CATEGORIES[1],
    (1, 1): CATEGORIES[2]
}
# The runs of each branch, in order (lipsync: the sync pre-training, then the classifier).
BRANCH_RUNS = {
    "spatial": ("spatial",),
    "temporal": ("temporal",),
    "lipsync": ("lipsync_sync", "lipsync"),
    "audio": ("audio",)
}
NEEDS = {
    "spatial": ("face",),
    "temporal": ("face",),
    "lipsync": ("face", "audio"),
    "audio": ("audio",)
}
SAVED_FUSION = "logistic"  # the rule stored in the fused detector
CI_METHOD = ("95% percentile bootstrap of each test video AUC: 1000 resamples of its videos "
             "with replacement, stratified by label (seed 0)")
FUSION_ARGS = ("preset", "data_config", "clip_len", "temporal_clip_len", "face_size", "scale")


def _args(arg):
  """The study's argument: configs/fusion.py's (given ones only) plus branches and blink."""
  from fakedetect_jax import config_lib
  given = dict(item.split("=", 1) for item in (arg or "").split(",") if "=" in item)
  a = config_lib.parse_arg(
      arg,
      preset="full",
      data_config="",
      clip_len=0,
      temporal_clip_len=0,
      face_size=0,
      scale=1.0,
      branches=":".join(BRANCH_RUNS),
      blink=False)
  fusion_arg = ",".join(f"{k}={given[k]}" for k in FUSION_ARGS if k in given)
  return a, fusion_arg


def runs(arg=None):
  from fakedetect_jax.errors import ConfigError
  from fakedetect_jax.studies import study as study_lib
  a, fusion_arg = _args(arg)
  data_config = study_lib.config_file(f"fusion.py:branch=spatial,{fusion_arg}").data.config
  evals = (Eval("validation", "synthetic_av", data_config,
                "validation"), Eval("test", "synthetic_av", data_config, "test"))
  out = []
  for branch in a.branches.split(":"):
    if branch not in BRANCH_RUNS:
      raise ConfigError(f"unknown branch {branch!r}; known: {', '.join(BRANCH_RUNS)}")
    prev = None
    for run in BRANCH_RUNS[branch]:
      sync = run == "lipsync_sync"
      out.append(
          Run(name=run,
              config=f"fusion.py:branch={run},{fusion_arg}".rstrip(","),
              evals=() if sync else evals,
              init_from=prev,
              tags={"branch": branch}))
      prev = run
  return out


def _subsets(table, scores):
  """{'overall' | category | method: (labels, scores)} of the videos each AUC is taken over:
  every scored video, or a category's (method's) videos against the real ones."""
  real = table["label"] == 0
  ok = np.isfinite(scores)
  out = {"overall": (table["label"][ok], scores[ok])}
  for key, values in (("category", CATEGORIES), ("method",
                                                 sorted(set(table["method"]) - {"real"}))):
    for v in values:
      keep = ok & ((table[key] == REAL_CATEGORY if key == "category" else real) | (table[key] == v))
      if np.any(table[key][keep] == v):
        out[v] = ((table[key][keep] == v).astype(int), scores[keep])
  return out


class AucRows(dict):
  """{'overall' | category | method: AUC}, plus .replicates(): {same key: the n bootstrap
  replicate AUCs of those videos} (metrics.bootstrap_aucs: resampled with replacement, stratified
  by label; the same draws for the same videos, so seeds pair up), computed once when asked."""

  def __init__(self, subsets):
    from fakedetect_jax.evaluate import metrics
    super().__init__({k: metrics.auc(*v) for k, v in subsets.items()})
    self._subsets, self._replicates = subsets, None

  def replicates(self):
    from fakedetect_jax.evaluate import metrics
    if self._replicates is None:
      self._replicates = {k: metrics.bootstrap_aucs(*v) for k, v in self._subsets.items()}
    return self._replicates

  def intervals(self):
    """{key: [lo, hi]}: the 95% percentile interval of each AUC's replicates."""
    from fakedetect_jax.evaluate import metrics
    return {k: list(metrics.percentile_interval(r)) for k, r in self.replicates().items()}


def auc_rows(table, scores):
  """{'overall': AUC, each category and method: AUC of those videos against the real ones}
  (an AucRows: .replicates() and .intervals() give their bootstrap)."""
  return AucRows(_subsets(table, scores))


def _split(rows, split, names, blink):
  """(scores [videos, branches] with NaN where masked, mask, per-video table, blink features or
  None) of one split, videos in record order, from the stored per-video results."""
  videos, scores = {}, {}
  for r in rows:
    if r.get("eval") == split and r.get("branch") in names:
      scores[r["branch"]] = {v["id"]: v["score"] for v in r["videos"]}
      for v in r["videos"]:
        videos.setdefault(v["id"], v)
  ids = list(videos)
  vs = [videos[i] for i in ids]
  table = {
      "ids": np.array(ids),
      "label": np.array([v["label"] for v in vs]),
      "method": np.array([v["method"] for v in vs]),
      "category": np.array(
          [CATEGORY[(v.get("video_label", v["label"]), v.get("audio_label", 0))] for v in vs])
  }
  s = np.array([[scores[n].get(i, np.nan) for n in names] for i in ids], np.float64)
  present = {k: np.array([v.get(f"has_{k}", True) for v in vs]) for k in ("face", "audio")}
  mask = np.stack([np.all([present[k] for k in NEEDS[n]], 0) for n in names], 1)
  extra = np.array([v["blink"] for v in vs], np.float64) if blink else None
  return np.where(mask, s, np.nan), mask & np.isfinite(s), table, extra


def fit(rows, arg=None):
  """The branches' test AUCs, every fusion fitted on validation and scored on test:
  (results, {rule: Fusion}, validation split, test split), or None before any branch has
  both splits stored."""
  from fakedetect_jax.fusion import METHODS, Fusion, blink
  a, _ = _args(arg)
  stored = {(r.get("branch"), r.get("eval")) for r in rows}
  names = [
      b for b in a.branches.split(":") if (b, "validation") in stored and (b, "test") in stored
  ]
  if not names:
    return None
  val = _split(rows, "validation", names, a.blink)
  test = _split(rows, "test", names, a.blink)
  results = {
      "branches": {
          n: auc_rows(test[2], test[0][:, i]) for i, n in enumerate(names)
      },
      "fusion": {}
  }
  results["auc_ci"] = {
      "branches": {
          n: r.intervals() for n, r in results["branches"].items()
      },
      "fusion": {},
      "method": CI_METHOD
  }
  fusions = {}
  for method in METHODS:
    f = Fusion(method, names, extra_names=blink.FEATURES if a.blink else ())
    fusions[method] = f.fit(val[0], val[1], val[2]["label"], extra=val[3])
    results["fusion"][method] = auc_rows(test[2], f.predict(test[0], test[1], test[3]))
    results["auc_ci"]["fusion"][method] = results["fusion"][method].intervals()
  return results, fusions, val, test


def report(rows, out_dir, arg=None):
  import json
  import os
  fitted = fit(rows, arg)
  if fitted is None:
    return
  results, fusions, _, (test_s, test_m, test_t, test_x) = fitted
  names = list(results["branches"])
  test_fused = {m: f.predict(test_s, test_m, test_x) for m, f in fusions.items()}
  per_video = {
      str(v): {
          **{
              n: _finite(test_s[i, j]) for j, n in enumerate(names)
          },
          **{
              "fusion_" + m: _finite(p[i]) for m, p in test_fused.items()
          }, "method": str(test_t["method"][i]),
          "label": int(test_t["label"][i])
      } for i, v in enumerate(test_t["ids"])
  }
  with open(os.path.join(out_dir, "test_scores.json"), "w") as fh:
    json.dump(per_video, fh, indent=1, sort_keys=True)
  with open(os.path.join(out_dir, "results.json"), "w") as fh:
    json.dump(results, fh, indent=2, sort_keys=True)
  with open(os.path.join(out_dir, "results.md"), "w") as fh:
    fh.write(markdown(results) + "\n")


def finish(rows, workdir, arg=None):
  """Saves the fused detector to workdir/detector: every branch's best checkpoint, the logistic
  fusion fitted on validation, the verdict threshold (as a single run's, predict.detector: best
  balanced accuracy on validation) and the media config the branches' examples were encoded
  with."""
  import dataclasses
  import json
  import os
  import ml_collections
  from fakedetect_jax.fusion import save_detector
  from fakedetect_jax.input import sources
  from fakedetect_jax.predict.detector import choose_threshold
  fitted = fit(rows, arg)
  if fitted is None:
    print("finish: no branch has validation and test scores; no detector saved", flush=True)
    return
  results, fusions, (val_s, val_m, val_t, val_x), _ = fitted
  names = list(results["branches"])
  final = {n: os.path.join(workdir, "runs", BRANCH_RUNS[n][-1]) for n in names}
  saved = fusions[SAVED_FUSION]
  val_fused = saved.predict(val_s, val_m, val_x)
  ok = np.isfinite(val_fused)
  threshold, bal = choose_threshold(val_t["label"][ok], val_fused[ok])
  with open(os.path.join(final[names[0]], "config.json")) as f:
    data = ml_collections.ConfigDict(json.load(f)).data
  builder = sources.get_builder(data.dataset, data.config, data.data_dir)
  path = os.path.join(workdir, "detector")
  save_detector(path, final, saved, threshold,
                f"best balanced accuracy on validation video scores ({bal:.3f})",
                dataclasses.asdict(builder.builder_config.media))
  print(f"fused detector ({SAVED_FUSION} of {', '.join(names)}): {path}", flush=True)


def _finite(x):
  return float(x) if np.isfinite(x) else None


def _cell(auc, ci):
  if ci and np.isfinite(ci[0]):
    return f"{auc:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"
  return f"{auc:.3f}"


def markdown(results):
  """The test video AUCs of results as a table, each with its 95% bootstrap interval."""
  cis = results.get("auc_ci", {})
  rows = [("branch " + k, v, cis.get("branches", {}).get(k, {}))
          for k, v in results["branches"].items()]
  rows += [
      ("fusion " + k, v, cis.get("fusion", {}).get(k, {})) for k, v in results["fusion"].items()
  ]
  cols = ["overall"] + [c for c in CATEGORIES if c in rows[0][1]
                       ] + sorted({k for _, r, _ in rows for k in r} - {"overall", *CATEGORIES})
  lines = [
      "Test video AUC [95% bootstrap interval: videos resampled with replacement, stratified by "
      "label]", "", "| test video AUC | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"
  ]
  for name, r, ci in rows:
    lines.append(f"| {name} | " +
                 " | ".join(_cell(r[c], ci.get(c)) if c in r else "-" for c in cols) + " |")
  return "\n".join(lines)
