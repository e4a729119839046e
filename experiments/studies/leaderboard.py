"""Leaderboard comparison: every zoo frame model under the common protocol, beside published
numbers.

  python -m fakedetect_jax.studies run experiments/studies/leaderboard.py --data_dir=D --workdir=W

Protocol (the one of the published cross-dataset tables trained on FF++, DeepfakeBench's
among them): train on FF++ c23 (the builders' default media: 32 evenly spaced frames per video,
face box x1.3, 256 px), select on FF++ validation, test on FF++ c23, Celeb-DF v2, DFD, DFDC and
DFDC preview; frame AUC, video AUC (mean of frame scores), EER and AP; SEEDS seeds each
(mean ± std). Datasets needed in D: ffpp/c23, ffpp/dfd_c23, celeb_df/v2, dfdc/full,
dfdc/preview (tfds build datasets/<name> --config=... --manual_dir=...).

Writes W/report/leaderboard.{md,csv} (one row per model and test set, ours beside the published
number and its source) and leaderboard_frame_auc.{md,csv} (models x test sets, frame AUC).
DFD here is the test split of the builder's actor split, DFDC the official test set: published
numbers evaluate DFD as a whole, so those cells compare close but not identical sets.
"""
from fakedetect_jax.studies import Eval, Run
from fakedetect_jax.studies import report as tables

SEEDS = (0, 1, 2)
SIZE = 256
TRAIN = ("ffpp", "c23")
TESTS = (  # (evaluation name, dataset, builder config, table heading)
    ("ffpp_c23", "ffpp", "c23", "FF++ c23"),
    ("celeb_df_v2", "celeb_df", "v2", "Celeb-DF v2"),
    ("dfd", "ffpp", "dfd_c23", "DFD"),
    ("dfdc", "dfdc", "full", "DFDC"),
    ("dfdc_preview", "dfdc", "preview", "DFDC preview"),
)
# Every frame model of the zoo: (name in tables, registered model, config file and arguments).
MODELS = (
    ("meso4", "meso4", "meso4.py"),
    ("mesoinception4", "mesoinception4", "mesoinception4.py"),
    ("xception", "xception", "xception.py"),
    ("efficientnet_b4", "efficientnet_b4", "efficientnet.py:variant=b4"),
    ("efficientnet_b4_att", "efficientnet_b4_att", "efficientnet.py:variant=b4_att"),
    ("resnext50", "resnext50_32x4d", "resnext.py"),
    ("inception_resnet_v2", "inception_resnet_v2", "inception_resnet_v2.py"),
    ("vit_s16", "vit_s16", "vit.py:variant=s16"),
    ("vit_b16", "vit_b16", "vit.py:variant=b16"),
    ("cross_efficient_vit", "cross_efficient_vit", "vit.py:variant=cross_efficient_vit"),
    ("conv_vit", "conv_vit", "vit.py:variant=conv_vit"),
)
# Published frame-level AUCs under the same protocol: (model, evaluation) -> (AUC, source).
# Only numbers checked against their source; a model without one shows '-'.
DEEPFAKEBENCH = ("DeepfakeBench (Yan et al., NeurIPS 2023 Datasets & Benchmarks), cross-dataset "
                 "frame-level AUC table, trained on FF++ c23")
PUBLISHED = {
    ("xception", "celeb_df_v2"): (0.7365, DEEPFAKEBENCH),
    ("xception", "dfd"): (0.8163, DEEPFAKEBENCH),
    ("xception", "dfdc"): (0.7077, DEEPFAKEBENCH),
    ("xception", "dfdc_preview"): (0.7374, DEEPFAKEBENCH),
}


def runs(arg=None):
  evals = tuple(Eval(name, ds, cfg) for name, ds, cfg, _ in TESTS)
  out = []
  for entry, model, config in MODELS:
    sep = "," if ":" in config else ":"
    for seed in SEEDS:
      out.append(
          Run(name=f"{entry}-s{seed}",
              config=f"{config}{sep}dataset={TRAIN[0]},data_config={TRAIN[1]},size={SIZE}",
              evals=evals,
              seed=seed,
              tags={"entry": entry}))
  return out


def report(rows, out_dir, arg=None):
  rows = [r for r in rows if r.get("entry")]
  cells = {
      m: tables.group(rows, ("entry", "eval"), m) for m in ("frame_auc", "video_auc", "eer", "ap")
  }
  header = [
      "model", "test set", "frame AUC", "video AUC", "EER", "AP", "seeds", "published frame AUC",
      "source"
  ]
  body, wide = [], []
  for model, _, _ in MODELS:
    wide_row = [model]
    for name, _, _, heading in TESTS:
      key = (model, name)
      ours = cells["frame_auc"].get(key)
      published, source = PUBLISHED.get(key, (None, ""))
      if ours is not None or published is not None:
        body.append(
            [model, heading] + [tables.fmt(cells[m].get(key)) for m in cells] +
            [ours[2] if ours else 0, "-" if published is None else f"{published:.4f}", source])
      wide_row.append(tables.fmt(ours) + ("" if published is None else f" ({published:.4f})"))
    wide.append(wide_row)
  tables.write_table(
      out_dir, "leaderboard", header, body,
      "Leaderboard: trained on FF++ c23, tested across datasets (mean ± std over "
      "seeds)")
  tables.write_table(out_dir, "leaderboard_frame_auc", ["model"] + [t[3] for t in TESTS], wide,
                     "Frame AUC, ours (published)")
