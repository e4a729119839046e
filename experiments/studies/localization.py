"""Temporal forgery localization beside the published numbers: LAV-DF, AV-Deepfake1M and the
embedded synthetic_av/partial.

  python -m fakedetect_jax.studies run experiments/studies/localization.py --data_dir=D --workdir=W
  python -m fakedetect_jax.studies run experiments/studies/localization.py:steps=3000 ...

One localization run per dataset (configs/localization.py: the 'localizer' on the dense
segments view) trained on its train split, selected on validation by the challenge score, and
scored on test by the avdeepfake1m SDK under the dataset's protocol: LAV-DF's (AP@0.5, 0.75,
0.95; AR@100, 50, 20, 10) and AV-Deepfake1M's (AP@0.5, 0.75, 0.9, 0.95; AR@50, 30, 20, 10, 5;
synthetic_av/partial too), each also per modify type (the fakes of one type against the reals,
as evaluate.localization.score_by_type). AV-Deepfake1M's test is its public validation set
(the builder's test split; its test_files.txt videos are the `submission` split, for
`python -m fakedetect_jax.evaluate --workdir=<run> --submission`). A dataset not prepared in D
is reported as missing (tfds build datasets/lavdf --manual_dir=...; the same for
av_deepfake1m); synthetic_av/partial builds on first use.

Published rows (percent in their READMEs, shown as fractions): LAV-DF's test set, BA-TFD+ and
UMMAFormer (ControlNet/LAV-DF and UMMAFormer READMEs); AV-Deepfake1M's test set, AP@0.5 only
(AV-Deepfake1M README). Different inputs and training budgets: the published models train
for days on GPUs from pretrained features; ours is the budget of `steps`.
Arguments: steps (default: the config's), seeds (count).
Writes W/report/localization_<protocol>.{md,csv} and localization_<protocol>_by_type.{md,csv}
(protocol: lavdf, av_deepfake1m).
"""
from fakedetect_jax.studies import Eval, Run
from fakedetect_jax.studies import report as tables

DATASETS = (  # (row name, dataset, builder config, protocol)
    ("synthetic_av/partial", "synthetic_av", "partial", "av_deepfake1m"),
    ("LAV-DF", "lavdf", "dense", "lavdf"),
    ("AV-Deepfake1M", "av_deepfake1m", "dense", "av_deepfake1m"),
)
PROTOCOL_KEYS = {
    "lavdf": ("AP@0.5", "AP@0.75", "AP@0.95", "AR@100", "AR@50", "AR@20", "AR@10"),
    "av_deepfake1m":
        ("AP@0.5", "AP@0.75", "AP@0.9", "AP@0.95", "AR@50", "AR@30", "AR@20", "AR@10", "AR@5"),
}
# The anchors, as fractions: {dataset row: {model: {metric: value}}}.
PUBLISHED = {
    "LAV-DF": {
        "BA-TFD+ (published)": {
            "AP@0.5": 0.9630,
            "AP@0.75": 0.8496,
            "AP@0.95": 0.0444,
            "AR@100": 0.8162
        },
        "UMMAFormer (published)": {
            "AP@0.5": 0.9883,
            "AP@0.75": 0.9554,
            "AP@0.95": 0.3761,
            "AR@100": 0.9248
        },
    },
    "AV-Deepfake1M": {
        "BA-TFD+ (published)": {
            "AP@0.5": 0.4442
        },
        "UMMAFormer (published)": {
            "AP@0.5": 0.5164
        },
    },
}


def _args(arg):
  from fakedetect_jax import config_lib
  return config_lib.parse_arg(arg, steps=0, seeds=1)


def runs(arg=None):
  a = _args(arg)
  out = []
  for row, dataset, data_config, _ in DATASETS:
    spec = f"localization.py:dataset={dataset},data_config={data_config}"
    if a.steps:
      spec += f",steps={a.steps}"
    for seed in range(int(a.seeds)):
      out.append(
          Run(name=f"localizer-{dataset}-{data_config}-s{seed}",
              config=spec,
              evals=(Eval("test", dataset, data_config, "test"),),
              seed=seed,
              tags={"dataset_row": row}))
  return out


def _keys(protocol):
  return PROTOCOL_KEYS[protocol] + ("mean_AP", "mean_AR", "score")


def report(rows, out_dir, arg=None):
  rows = [r for r in rows if r.get("dataset_row")]
  for protocol in PROTOCOL_KEYS:
    keys = _keys(protocol)
    body, by_type = [], []
    for name, _, _, p in DATASETS:
      if p != protocol:
        continue
      mine = [r for r in rows if r["dataset_row"] == name]
      cells = {k: tables.cell([r[k] for r in mine if tables.finite(r.get(k))]) for k in keys}
      body.append([name, "localizer (ours)"] + [tables.fmt(cells[k]) for k in keys] +
                  [str(len(mine))])
      for model, published in PUBLISHED.get(name, {}).items():
        body.append([name, model] +
                    [f"{published[k]:.4f}" if k in published else "-" for k in keys] + ["-"])
      kinds = sorted({t for r in mine for t in r.get("by_modify_type", {})})
      for kind in kinds:
        vals = {
            k: tables.cell([
                r["by_modify_type"][kind][k]
                for r in mine
                if tables.finite(r.get("by_modify_type", {}).get(kind, {}).get(k))
            ]) for k in keys
        }
        by_type.append([name, kind] + [tables.fmt(vals[k]) for k in keys])
    if not body:
      continue
    title = (f"Temporal localization, {protocol} protocol (avdeepfake1m SDK; fractions; mean ± "
             "std over seeds)")
    tables.write_table(out_dir, f"localization_{protocol}",
                       ["dataset", "model"] + list(keys) + ["seeds"], body, title)
    if by_type:
      tables.write_table(out_dir, f"localization_{protocol}_by_type",
                         ["dataset", "modify type"] + list(keys), by_type,
                         title + ", per modify type against the reals")
