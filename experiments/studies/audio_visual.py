"""Audio-visual study: AUC per FakeAVCeleb category for each branch and for their fusion.

  python -m fakedetect_jax.studies run experiments/studies/audio_visual.py --data_dir=D --workdir=W

Branches (those of synthetic_fusion.py, configs/fusion.py's full preset): spatial (MesoNet-4
on frames, video label), temporal (transformer on clips, video label), lipsync (sync
pre-training on real videos, then a classifier, video label) and audio (log-mel CNN, audio
label). Each branch is trained on every category; its per-video scores on validation and test
are stored, and the report fits the fusions (mean, max, logistic, mlp) on validation scores and
scores them on test, so the fusion needs no extra run. A branch whose input a video lacks (no
audio track, no face found) is masked for that video, as in synthetic_fusion. A category's AUC
is that category's videos against RealVideo-RealAudio (the category comes from the video and
audio labels).
Beside them, the silence-only detector (AVH-Align, CVPR 2025: FakeAVCeleb's fakes tend to start
with a short silence that alone separates them): no model, each test video scored by the negative
mean power of its first 0.5 s of audio (studies/evaluate_run.silence_fields), once as stored
("silence-only, untrimmed") and once after the leading-silence trim every audio-reading branch
trains with here ("silence-only, trimmed": data.trim_leading_silence, input/views.py). Near 0.5
trimmed: what the trim leaves of a video's start no longer tells its label.
Datasets: FakeAVCeleb v1.2 in its `v1.2_clips` build (D/fakeavceleb, `tfds build
datasets/fakeavceleb --config=v1.2_clips`: 2 runs of CLIP_LEN consecutive frames per video, what
the temporal and lip-sync branches need) and the embedded synthetic_av (built on first use) with
the same four categories. SEEDS seeds, mean ± std [95% bootstrap interval of the seed
mean over test videos, studies/report.py]. (--tiny: runlocal reads fakeavceleb's `v1.2`
and synthetic_av's `tiny`, 4 frames a video.)

Writes W/report/audio_visual_<dataset>.{md,csv}.
"""
import functools
import importlib.util
import os

import numpy as np

from fakedetect_jax.studies import Run, Eval
from fakedetect_jax.studies import report as tables

SEEDS = (0, 1, 2)
CLIP_LEN = 16
BRANCHES = ("spatial", "temporal", "lipsync", "audio")
DATASETS = (  # (name, dataset, builder config)
    ("fakeavceleb", "fakeavceleb", "v1.2_clips"),
    ("synthetic_av", "synthetic_av", "small_clips"),
)
# The runs of each branch, in order (lipsync: the sync pre-training, then the classifier).
BRANCH_RUNS = {
    "spatial": ("spatial",),
    "temporal": ("temporal",),
    "lipsync": ("lipsync_sync", "lipsync"),
    "audio": ("audio",)
}
# Category of a video from its (video label, audio label), 0 = real, 1 = fake.
# The silence-only detector's rows: name -> the per-video field whose negative is its score.
SILENCE_ROWS = {
    "silence-only, untrimmed": "lead_energy",
    "silence-only, trimmed": "lead_energy_trimmed"
}
CATEGORY = {
    (0, 0): "RealVideo-RealAudio",
    (0, 1): "RealVideo-FakeAudio",
    (1, 0): "FakeVideo-RealAudio",
    (1, 1): "FakeVideo-FakeAudio"
}


@functools.lru_cache(maxsize=None)
def _synthetic_fusion():
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "synthetic_fusion.py")
  spec = importlib.util.spec_from_file_location("synthetic_fusion", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def runs(arg=None):
  out = []
  for name, dataset, data_config in DATASETS:
    evals = (Eval("validation", dataset, data_config,
                  "validation"), Eval("test", dataset, data_config, "test"))
    for seed in SEEDS:
      for branch in BRANCHES:
        prev = None
        for run in BRANCH_RUNS[branch]:
          sync = run == "lipsync_sync"
          overrides = {}
          if name != "synthetic_av":
            # configs/fusion.py trains each branch on its own synthetic methods; FakeAVCeleb's
            # branches see every category, and the sync pre-training its real videos only.
            overrides = {"data.train_methods": ("real",) if sync else ()}
          run_name = f"{name}-{run}-s{seed}"
          out.append(
              Run(name=run_name,
                  seed=seed,
                  init_from=prev,
                  overrides=overrides,
                  config=f"fusion.py:branch={run},preset=full,dataset={dataset},"
                  f"data_config={data_config},clip_len={CLIP_LEN}",
                  evals=() if sync else evals,
                  tags={
                      "av_dataset": name,
                      "branch": branch
                  }))
          prev = run_name
  return out


def _videos(rows):
  """{video id: row} of the stored per-video results."""
  return {v["id"]: v for r in rows for v in r["videos"]}


def _scores(rows_by_branch, branches, ids):
  """[videos, branches] scores, NaN where a branch has no score or lacks its input (NEEDS of
  synthetic_fusion: no face, no audio track, as the evaluation recorded)."""
  needs = _synthetic_fusion().NEEDS
  out = np.full((len(ids), len(branches)), np.nan)
  for j, b in enumerate(branches):
    videos = _videos(rows_by_branch[b])
    for i, vid in enumerate(ids):
      v = videos.get(vid, {})
      if all(v.get(f"has_{k}", True) for k in needs.get(b, ())):
        out[i, j] = v.get("score", np.nan)
  return out


def _table(videos, ids):
  cat = [
      CATEGORY.get(
          (videos[i].get("video_label", videos[i]["label"]), videos[i].get("audio_label", 0)), "")
      for i in ids
  ]
  return {
      "label": np.array([videos[i]["label"] for i in ids]),
      "category": np.array(cat),
      "method": np.array([videos[i]["method"] for i in ids])
  }


def one_result(rows, fusion_lib):
  """{'branch <b>' | 'fusion <rule>': {'overall': auc, category: auc}} of one dataset and seed."""
  sf = _synthetic_fusion()
  by = {split: {} for split in ("validation", "test")}
  for r in rows:
    by[r["eval"]].setdefault(r["branch"], []).append(r)
  branches = [b for b in BRANCHES if b in by["test"]]
  if not branches:
    return {}
  test_videos = _videos([r for b in branches for r in by["test"][b]])
  ids = sorted(test_videos)
  test_t, test_s = _table(test_videos, ids), _scores(by["test"], branches, ids)
  out = {f"branch {b}": sf.auc_rows(test_t, test_s[:, j]) for j, b in enumerate(branches)}
  out.update(silence_only(test_videos, ids, test_t))
  if all(b in by["validation"] for b in branches):
    val_videos = _videos([r for b in branches for r in by["validation"][b]])
    vids = sorted(val_videos)
    val_t, val_s = _table(val_videos, vids), _scores(by["validation"], branches, vids)
    for method in fusion_lib.METHODS:
      if method not in ("mean", "max") and len(set(val_t["label"])) < 2:
        continue  # a learned fusion needs both classes in validation
      f = fusion_lib.Fusion(method, branches).fit(val_s, np.isfinite(val_s), val_t["label"])
      out[f"fusion {method}"] = sf.auc_rows(test_t, f.predict(test_s, np.isfinite(test_s)))
  return out


def silence_only(videos, ids, table):
  """{row name: AUC rows} of the silence-only detector (SILENCE_ROWS) on the videos `ids`, from
  their stored lead energies (-energy: a quiet start scores fake); videos without audio are
  left out."""
  sf = _synthetic_fusion()
  out = {}
  for name, key in SILENCE_ROWS.items():
    energy = np.array([np.nan if videos[i].get(key) is None else videos[i][key] for i in ids])
    if np.isfinite(energy).any():
      out[name] = sf.auc_rows(table, -energy)
  return out


def report(rows, out_dir, arg=None):
  from fakedetect_jax import fusion
  rows = [r for r in rows if r.get("av_dataset")]
  sf = _synthetic_fusion()
  for name, *_ in DATASETS:
    mine = [r for r in rows if r["av_dataset"] == name]
    per_seed = [
        one_result([r for r in mine if r["seed"] == s],
                   fusion) for s in sorted({r["seed"] for r in mine})
    ]
    names = list(dict.fromkeys(k for res in per_seed for k in res))
    if not names:
      continue
    cols = ["overall", *sf.CATEGORIES]
    body = []
    for n in names:
      cells = []
      for c in cols:
        done = [res[n] for res in per_seed if n in res and tables.finite(res[n].get(c))]
        # Each seed's bootstrap replicates of the cell (sf.AucRows): the seed mean's interval.
        cells.append(
            tables.fmt(tables.cell([r[c] for r in done], [r.replicates()[c] for r in done])))
      body.append([n] + cells)
    tables.write_table(
        out_dir, f"audio_visual_{name}", ["test video AUC"] + cols, body,
        f"{name}: test video AUC per category, each branch and the fusions "
        f"(mean ± std over {len(per_seed)} seeds [95% bootstrap interval over test videos])")
