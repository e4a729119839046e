"""Robustness: test AUC of detectors trained on FF++ c23 when the test faces are degraded.

  python -m fakedetect_jax.studies run experiments/studies/robustness.py --data_dir=D --workdir=W

Each model (common protocol: 32 frames, face x1.3, 256 px; SEEDS seeds) is evaluated on the
clean FF++ c23 test split and on copies degraded by the zoo's distortions (input/augment.py
LEVELS: JPEG quality, Gaussian blur, Gaussian noise, down-and-up resize) at severities 1-5. The
noise of each frame is seeded by its index, so every model sees the same degraded set.

Writes W/report/robustness.{md,csv} (model x distortion rows, one column per severity; each
cell mean ± std over seeds with the 95% bootstrap interval of the seed mean over resampled test
videos) and robustness_<distortion>.png (video AUC against strength, one curve per model, ± std).
"""
from fakedetect_jax.studies import Eval, Run
from fakedetect_jax.studies import report as tables
from fakedetect_jax.input.augment import LEVELS

SEEDS = (0, 1, 2)
SIZE = 256
TEST = ("ffpp", "c23")
MODELS = (("xception", "xception.py"), ("efficientnet_b4", "efficientnet.py:variant=b4"),
          ("meso4", "meso4.py"))
PERTURBATIONS = {
    "jpeg": "JPEG quality",
    "blur": "blur sigma (px)",
    "noise": "noise std (0-255)",
    "downscale": "resize scale"
}


def runs(arg=None):
  evals = [Eval("clean", *TEST)]
  for kind in PERTURBATIONS:
    evals += [
        Eval(f"{kind}_{level}", *TEST, perturbation=kind, level=level)
        for level in range(1,
                           len(LEVELS[kind]) + 1)
    ]
  out = []
  for model, config in MODELS:
    sep = "," if ":" in config else ":"
    for seed in SEEDS:
      out.append(
          Run(name=f"{model}-s{seed}",
              evals=tuple(evals),
              seed=seed,
              config=f"{config}{sep}dataset={TEST[0]},data_config={TEST[1]},size={SIZE}",
              tags={"detector": model}))
  return out


def report(rows, out_dir, arg=None, metric="video_auc"):
  rows = [r for r in rows if r.get("detector")]
  for r in rows:
    r["severity"] = 0 if r["eval"] == "clean" else r["level"]
  models = [m for m, _ in MODELS if any(r["detector"] == m for r in rows)]
  clean = tables.group([r for r in rows if r["eval"] == "clean"], ("detector",), metric)
  header = ["model", "distortion", "clean"] + [f"level {i}" for i in range(1, 6)]
  body = []
  for kind, label in PERTURBATIONS.items():
    cells = tables.group([r for r in rows if r.get("perturbation") == kind], ("detector", "level"),
                         metric)
    series = {}
    for m in models:
      line = [clean.get((m,))] + [cells.get((m, lvl)) for lvl in range(1, 6)]
      body.append([m, kind] + [tables.fmt(c) for c in line])
      points = [(i, c) for i, c in enumerate(line) if c is not None]
      if points:
        series[m] = ([i for i, _ in points], [c[0] for _, c in points], [c[1] for _, c in points])
    if series:
      ticks = ["clean"] + [str(v) for v in LEVELS[kind]]
      tables.curves(
          series,
          f"{out_dir}/robustness_{kind}.png",
          f"Robustness to {kind}",
          label,
          metric.replace("_", " "),
          xticks=ticks)
  tables.write_table(
      out_dir, "robustness", header, body,
      f"Test {metric.replace('_', ' ').replace('auc', 'AUC')} on degraded FF++ c23 "
      f"(mean ± std over seeds [95% bootstrap interval over test videos])")
