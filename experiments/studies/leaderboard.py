"""Leaderboard comparison: every zoo frame model under the common protocol, beside published
numbers, comparing like with like.

  python -m fakedetect_jax.studies run experiments/studies/leaderboard.py --data_dir=D --workdir=W \
      --pretrained_dir=weights [--deepfakebench_dir=dfb_weights] [--allow_scratch]

Arguments (also as `leaderboard.py:pretrained_dir=...,allow_scratch=true`):
  pretrained_dir     converted ImageNet weights, <model>_imagenet.npz (docs/pretrained.md). The
                     published numbers come from ImageNet-initialised backbones, so a model that
                     has ImageNet weights is trained from them.
  allow_scratch      without its file, train that model from scratch anyway; its rows say
                     'scratch' in every table. Without this flag a missing file stops the study.
  deepfakebench_dir  DeepfakeBench's released checkpoints, DIR/<detector>_best.pth (its names:
                     meso4, meso4Inception, xception, efficientnetb4, spsl, srm, ucf, f3net,
                     effort; rename the release's files so): each is imported
                     (models/deepfakebench) and evaluated on our prepared test sets, "their
                     weights, our pipeline".

Protocol (the one of the published cross-dataset tables trained on FF++, DeepfakeBench's
among them): train on FF++ c23 (the builders' default media: 32 evenly spaced frames per video,
face box x1.3, 256 px; the CLIP-based detectors at their towers' 224 px), select on FF++ validation, test on FF++ c23, Celeb-DF v2, DFD, DFDC and
DFDC preview; frame AUC, video AUC (the run's eval.video_strategy over frame scores: the mean by
default), video EER (interpolated) and video AP; SEEDS seeds each (mean ± std, AUCs with the 95%
bootstrap interval of the seed mean over resampled test videos, studies/report.py); and
DeepfakeBench's own definitions beside them (evaluate/deepfakebench.py: frame EER at the nearest
ROC point, frame AP, frame ACC at p > 0.5, video AUC of the mean frame score per video name;
their frame AUC is ours). Datasets needed in D: ffpp/c23, ffpp/dfd_c23, celeb_df/v2, dfdc/full,
dfdc/preview (tfds build datasets/<name> --config=... --manual_dir=...). For the imported block,
DeepfakeBench's own crops are `FAKEDETECT_MEDIA=protocol=deepfakebench` when building D.

Writes W/report/leaderboard.{md,csv} (one row per model, weights and test set: ours beside the
published number and its source, then DeepfakeBench's metrics; the `weights` column says
imagenet / scratch / none (MesoNets: no ImageNet weights, as published) / deepfakebench
(imported), clip (from OpenAI's CLIP tower: univfd, clip_finetune, effort)),
leaderboard_frame_auc.{md,csv} (models x test sets, frame AUC, the published frame AUC beside)
and leaderboard_published.{md,csv} (every detector of DeepfakeBench's table, then Effort,
Forensics Adapter and LSDA from their papers, each with its level: DeepfakeBench's and LSDA's
are frame-level, Effort's and Forensics Adapter's video-level).
DFD here is the test split of the builder's actor split, DFDC the official test set: published
numbers evaluate DFD as a whole, so those cells compare close but not identical sets.
"""
import os

from fakedetect_jax import config_lib
from fakedetect_jax.errors import ConfigError
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
# Every frame model of the zoo: (name in tables, registered model, config file and arguments,
# its ImageNet weights in pretrained_dir; None: the published model has none; '': it has, but
# they cannot be converted here yet, so the model runs only from scratch, with allow_scratch).
MODELS = (
    ("meso4", "meso4", "meso4.py", None),
    ("mesoinception4", "mesoinception4", "mesoinception4.py", None),
    ("xception", "xception", "xception.py", "xception_imagenet.npz"),
    ("efficientnet_b4", "efficientnet_b4", "efficientnet.py:variant=b4",
     "efficientnet_b4_imagenet.npz"),
    ("efficientnet_b4_att", "efficientnet_b4_att", "efficientnet.py:variant=b4_att",
     "efficientnet_b4_imagenet.npz"),
    ("resnext50", "resnext50_32x4d", "resnext.py", "resnext50_32x4d.npz"),
    ("inception_resnet_v2", "inception_resnet_v2", "inception_resnet_v2.py",
     "inception_resnet_v2_imagenet.npz"),
    ("vit_s16", "vit_s16", "vit.py:variant=s16", "vit_s16.npz"),
    ("vit_b16", "vit_b16", "vit.py:variant=b16", "vit_b16.npz"),
    ("cross_efficient_vit", "cross_efficient_vit", "vit.py:variant=cross_efficient_vit",
     "cross_efficient_vit_b0.npz"),
    ("conv_vit", "conv_vit", "vit.py:variant=conv_vit", None),
    ("srm", "srm", "srm.py", "srm_imagenet.npz"),  # Xception's weights in both streams
    # DeepfakeBench starts SPSL from Xception's weights with the first conv averaged over RGB
    # and repeated for the phase channel; no converter does that here yet: always scratch.
    ("spsl", "spsl", "spsl.py", ""),
    # DeepfakeBench's F3Net starts from Xception's ImageNet weights with a 12-channel first
    # conv: no converter does that here yet either.
    ("f3net", "f3net", "f3net.py", ""),
    # CLIP towers: OpenAI's weights (docs/pretrained.md, `convert <model> <CLIP checkpoint>`).
    ("univfd", "univfd", "clip.py:variant=univfd", "univfd_clip_l14.npz"),
    ("clip_finetune", "clip_finetune", "clip.py:variant=finetune", "clip_finetune_clip_l14.npz"),
    ("effort", "effort", "effort.py", "effort_clip_l14.npz"),
)
# The weights' kind in the `weights` column when the file is there (default: imagenet), and the
# input size of the models not trained at SIZE (CLIP towers at their own 224 px, as published).
WEIGHTS_KIND = {"univfd": "clip", "clip_finetune": "clip", "effort": "clip"}
NATIVE_SIZE = {"univfd": 224, "clip_finetune": 224, "effort": 224}
# DeepfakeBench detectors importable here: (its name, our table name).
IMPORTED = (("meso4", "meso4"), ("meso4Inception", "mesoinception4"), ("xception", "xception"),
            ("efficientnetb4", "efficientnet_b4"), ("spsl", "spsl"), ("srm", "srm"), ("ucf", "ucf"),
            ("f3net", "f3net"), ("effort", "effort"))

DEEPFAKEBENCH = ("DeepfakeBench README results table (cited from Yan et al., NeurIPS 2023 "
                 "Datasets & Benchmarks): frame-level AUC, trained on FF++ c23")
# DeepfakeBench's frame-level AUCs on our five test sets (FF++ c23, CDFv2, DFD, DFDC, DFDCP),
# every detector of its table: (its name, our table name or None when not in our zoo).
# It publishes no video-level AUCs in that table; a video-level number would say so.
PUBLISHED_TABLE = (
    ("Meso4", "meso4", (0.6077, 0.6091, 0.5481, 0.5560, 0.5994)),
    ("MesoIncep", "mesoinception4", (0.7583, 0.6966, 0.6069, 0.6226, 0.7561)),
    ("CNN-Aug", None, (0.8493, 0.7027, 0.6464, 0.6361, 0.6170)),
    ("Xception", "xception", (0.9637, 0.7365, 0.8163, 0.7077, 0.7374)),
    ("EfficientB4", "efficientnet_b4", (0.9567, 0.7487, 0.8148, 0.6955, 0.7283)),
    ("Capsule", None, (0.8421, 0.7472, 0.6841, 0.6465, 0.6568)),
    ("FWA", None, (0.8765, 0.6680, 0.7403, 0.6132, 0.6375)),
    ("Face X-ray", None, (0.9592, 0.6786, 0.7655, 0.6326, 0.6942)),
    ("FFD", None, (0.9624, 0.7435, 0.8024, 0.7029, 0.7426)),
    ("CORE", None, (0.9638, 0.7428, 0.8018, 0.7049, 0.7341)),
    ("Recce", None, (0.9621, 0.7319, 0.8119, 0.7133, 0.7419)),
    ("UCF", "ucf", (0.9705, 0.7527, 0.8074, 0.7191, 0.7594)),
    ("F3Net", "f3net", (0.9635, 0.7352, 0.7975, 0.7021, 0.7354)),
    ("SPSL", "spsl", (0.9610, 0.7650, 0.8122, 0.7040, 0.7408)),
    ("SRM", "srm", (0.9576, 0.7552, 0.8120, 0.6995, 0.7408)),
)
# Today's CLIP-based detectors, from their own papers and releases (trained on FF++ c23; None:
# not reported): (name, our table name or None, level, AUCs on our five test sets, source).
RECENT_TABLE = (
    ("Effort", "effort", "video-level AUC", (None, 0.956, 0.965, 0.843, 0.909),
     "Effort (Yan et al., ICML 2025), Effort-AIGI-Detection figs/deepfake_tab1.png"),
    ("Forensics Adapter", None, "video-level AUC", (None, 0.957, None, 0.872, 0.929),
     "Forensics Adapter (Cui et al., CVPR 2025), OUC-VAS/ForensicsAdapter README"),
    ("LSDA", None, "frame-level AUC", (None, 0.830, None, None, None),
     "LSDA (Yan et al., CVPR 2024)"),
)
# (our table name, evaluation name) -> (published AUC, its level, its source).
PUBLISHED = {
    (ours, name): (auc, "frame-level AUC", DEEPFAKEBENCH) for _, ours, aucs in PUBLISHED_TABLE
    if ours for (name, _, _, _), auc in zip(TESTS, aucs)
}
PUBLISHED.update({
    (ours, name): (auc, level, source) for _, ours, level, aucs, source in RECENT_TABLE if ours
    for (name, _, _, _), auc in zip(TESTS, aucs) if auc is not None
})
# DeepfakeBench's metrics of our runs (evaluate/deepfakebench.py), after the published columns.
DFB_COLUMNS = (("frame_eer", "frame EER (DFB, nearest ROC point)"), ("frame_ap", "frame AP (DFB)"),
               ("frame_acc", "frame ACC (DFB, p > 0.5)"),
               ("video_auc", "video AUC (DFB, mean frame score per video name)"))


def parse(arg):
  return config_lib.parse_arg(arg, pretrained_dir="", allow_scratch=False, deepfakebench_dir="")


def _checkpoint(directory, detector):
  for name in (f"{detector}_best.pth", f"{detector}.pth"):
    if os.path.exists(os.path.join(directory, name)):
      return os.path.join(directory, name)
  return None


def runs(arg=None):
  a = parse(arg)
  evals = tuple(Eval(name, ds, cfg) for name, ds, cfg, _ in TESTS)
  out, missing = [], []
  for entry, model, config, weights_file in MODELS:
    sep = "," if ":" in config else ":"
    size = NATIVE_SIZE.get(entry, SIZE)
    config = f"{config}{sep}dataset={TRAIN[0]},data_config={TRAIN[1]},size={size}"
    weights, suffix = "none", ""
    if weights_file is not None:
      path = (
          os.path.join(a.pretrained_dir, weights_file) if a.pretrained_dir and weights_file else "")
      if path and os.path.exists(path):
        weights, config = WEIGHTS_KIND.get(entry, "imagenet"), f"{config},pretrained={path}"
      elif a.allow_scratch:
        weights, suffix = "scratch", "-scratch"
      else:
        missing.append(f"{entry}: {path or weights_file or 'no converter for its weights'}")
    for seed in SEEDS:
      out.append(
          Run(name=f"{entry}{suffix}-s{seed}",
              config=config,
              evals=evals,
              seed=seed,
              tags={
                  "entry": entry,
                  "weights": weights
              }))
  if missing:
    raise ConfigError(
        "the leaderboard trains from ImageNet weights, as the published models were; missing "
        f"({len(missing)}): {'; '.join(missing)}. Convert them (docs/pretrained.md) into "
        "--pretrained_dir, or pass --allow_scratch to train those from scratch (marked so)")
  if a.deepfakebench_dir:
    for detector, entry in IMPORTED:
      ckpt = _checkpoint(a.deepfakebench_dir, detector)
      if ckpt:
        out.append(
            Run(name=f"deepfakebench_{detector}",
                config=None,
                evals=evals,
                imported=(detector, ckpt),
                tags={
                    "entry": entry,
                    "weights": "deepfakebench"
                }))
  return out


def report(rows, out_dir, arg=None):
  rows = [r for r in rows if r.get("entry")]
  for r in rows:
    r.setdefault("weights", "imagenet" if "pretrained=" in str(r.get("config")) else "?")
  keys = ("entry", "weights", "eval")
  cells = {m: tables.group(rows, keys, m) for m in ("frame_auc", "video_auc", "eer", "ap")}
  dfb = {m: tables.group(rows, keys, "deepfakebench." + m) for m, _ in DFB_COLUMNS}
  header = [
      "model", "weights", "test set", "frame AUC", "video AUC", "video EER (interp.)", "video AP",
      "seeds", "published AUC", "published level; source"
  ] + [name for _, name in DFB_COLUMNS]
  order = [m[0] for m in MODELS] + [e for _, e in IMPORTED if e not in [m[0] for m in MODELS]]
  seen = sorted({(r["entry"], r["weights"]) for r in rows},
                key=lambda k: (order.index(k[0]) if k[0] in order else len(order), k))
  body, wide = [], []
  for entry, weights in seen:
    wide_row = [entry, weights]
    for name, _, _, heading in TESTS:
      key = (entry, weights, name)
      ours = cells["frame_auc"].get(key)
      published, level, source = PUBLISHED.get((entry, name), (None, "", ""))
      body.append([entry, weights, heading] + [tables.fmt(cells[m].get(key)) for m in cells] + [
          ours[2] if ours else 0, "-" if published is None else f"{published:.4f}",
          f"{level}; {source}" if source else ""
      ] + [tables.fmt(dfb[m].get(key)) for m, _ in DFB_COLUMNS])
      frame_level = published is not None and level.startswith("frame")
      wide_row.append(tables.fmt(ours) + (f" ({published:.4f})" if frame_level else ""))
    wide.append(wide_row)
  tables.write_table(
      out_dir, "leaderboard", header, body,
      "Leaderboard: trained on FF++ c23, tested across datasets (mean ± std over seeds; AUCs "
      "[95% bootstrap interval over test videos]; a published AUC is compared with ours of its "
      "level; weights: imagenet = fine-tuned from ImageNet, clip = from OpenAI's CLIP tower, "
      "scratch = from scratch (not the published protocol), none = the model has no ImageNet "
      "weights, deepfakebench = DeepfakeBench's released checkpoint scored by our pipeline; DFB: "
      "DeepfakeBench's metric definitions)")
  tables.write_table(out_dir, "leaderboard_frame_auc", ["model", "weights"] + [t[3] for t in TESTS],
                     wide, "Frame AUC, ours [95% bootstrap interval] (published frame AUC)")
  tables.write_table(
      out_dir, "leaderboard_published",
      ["detector", "here as", "level"] + [t[3] for t in TESTS] + ["source"],
      [[name, ours or "-", "frame AUC"] + [f"{v:.4f}"
                                           for v in aucs] + [DEEPFAKEBENCH]
       for name, ours, aucs in PUBLISHED_TABLE] +
      [[name, ours or "-", level] + ["-" if v is None else f"{v:.3f}"
                                     for v in aucs] + [source]
       for name, ours, level, aucs, source in RECENT_TABLE],
      "Published numbers, trained on FF++ c23 (DFD: whole dataset, not our actor split)")
