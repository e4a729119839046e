"""Temporal forgery localization: prediction files and their official scores.

Predictions are written in the 1M-Deepfakes challenge's formats and scored by the field's own
evaluator, the `avdeepfake1m` SDK (0.0.4; its AP/AR are compiled Rust, the same numbers as the
challenge server and the published tables), so anyone can rescore a run's files with the SDK:

  segments   `{file: [[score, start_s, end_s], ...]}` JSON, rows by score, highest first
  metadata   the split's ground truth as AV-Deepfake1M's metadata: a JSON list of entries
  scores     `file;score` lines (clip-level fake probability)

What the SDK computes (read from its source, src/loc_1d.rs, and checked by
tests/test_localization_metrics.py; docs/localization.md has the worked example):
  AP@t  segment level, pooled over the split: every proposal of every video ranked by score;
        a ground-truth segment is matched to the first still-unmatched proposal of its video
        (in file order) whose IoU is > t (strictly); precision envelope times recall steps,
        except the first step (recall 0 -> R_1) is not counted, so a perfect file scores
        1 - 1/n_segments (negligible at dataset scale, visible on a tiny set).
  AR@N  per video the first N rows in file order; a segment is recalled when any of them has
        IoU > t; recall pooled over the split (segments found / segments), averaged over the
        protocol's IoU thresholds 0.5:0.05:0.95. Real videos add nothing to AR.
Times are seconds on both sides (the SDK divides proposals by `fps`; we pass 1).
Knows no model and no JAX: numpy and json only (torch only inside `clip_auc`, via the SDK).
"""
import dataclasses
import functools
import importlib.util
import json
import math
import os
import sys
import tempfile
import types
import warnings
import zipfile

import numpy as np

from fakedetect_jax.errors import DataError, FakedetectError

SDK_PIP = "pip install --no-deps avdeepfake1m==0.0.4"
MODIFY_TYPES = ("real", "visual_modified", "audio_modified", "both_modified")
METADATA_KEYS = ("file", "split", "modify_type", "fake_segments", "visual_fake_segments",
                 "audio_fake_segments", "video_frames", "audio_frames")
# An empty row list makes the SDK panic ("shape should be allocated"): a video with no proposal
# gets this zero-length, zero-score one instead (IoU 0 with anything, so never a match; its
# segments then count as missed in AR instead of being left out of it).
NO_PROPOSAL = [0.0, 0.0, 0.0]


@dataclasses.dataclass(frozen=True)
class Protocol:
  ap_iou: tuple
  ar_n: tuple
  ar_iou: tuple = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))


PROTOCOLS = {
    # The AV-Deepfake1M README's evaluation call and the challenge leaderboards.
    "av_deepfake1m": Protocol(ap_iou=(0.5, 0.75, 0.9, 0.95), ar_n=(50, 30, 20, 10, 5)),
    # LAV-DF's evaluate.py (BA-TFD / BA-TFD+ tables; UMMAFormer reports the same columns).
    "lavdf": Protocol(ap_iou=(0.5, 0.75, 0.95), ar_n=(100, 50, 20, 10)),
}


class EvaluatorMissing(FakedetectError, ImportError):
  """The avdeepfake1m SDK (or torchmetrics, for the AUC) is not installed."""


def _sdk_dir():
  spec = importlib.util.find_spec("avdeepfake1m")
  if spec is None or not spec.submodule_search_locations:
    raise EvaluatorMissing(f"the localization evaluator avdeepfake1m is not installed: {SDK_PIP}")
  return list(spec.submodule_search_locations)[0]


@functools.lru_cache(maxsize=None)
def _evaluation():
  """The SDK's compiled `_evaluation` module, loaded without the package __init__: that imports
  avdeepfake1m.utils (torchvision, whose PyPI wheels need the CUDA torch) and .loader
  (lightning, torchaudio), none of which the evaluator uses."""
  root = _sdk_dir()
  found = [f for f in os.listdir(root) if f.startswith("_evaluation.") and f.endswith(".so")]
  if not found:
    raise EvaluatorMissing(f"no compiled _evaluation module in {root}: {SDK_PIP}")
  spec = importlib.util.spec_from_file_location("avdeepfake1m._evaluation",
                                                os.path.join(root, found[0]))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  if getattr(module, "__version__", None) != "0.0.4":
    warnings.warn(f"avdeepfake1m {getattr(module, '__version__', '?')} is not the 0.0.4 these "
                  f"metrics were checked against")
  return module


@functools.lru_cache(maxsize=None)
def _sdk_auc():
  """The SDK's `evaluation.auc` (pandas + torchmetrics AUROC). Its module does
  `from ..utils import read_json`, and utils imports torchvision: while auc.py loads, the
  package, its evaluation subpackage and utils are stood in for by bare modules, utils holding
  the same two-line read_json; the stand-ins leave sys.modules afterwards."""
  root = _sdk_dir()
  if importlib.util.find_spec("torchmetrics") is None:
    raise EvaluatorMissing("clip_auc needs torchmetrics (the SDK's AUROC): "
                           "pip install -c constraints.txt torchmetrics==1.9.0")

  def read_json(path, object_hook=None):
    with open(path) as f:
      return json.load(f, object_hook=object_hook)

  stand_ins = {
      "avdeepfake1m": types.ModuleType("avdeepfake1m"),
      "avdeepfake1m.evaluation": types.ModuleType("avdeepfake1m.evaluation"),
      "avdeepfake1m.utils": types.ModuleType("avdeepfake1m.utils"),
  }
  stand_ins["avdeepfake1m"].__path__ = [root]
  stand_ins["avdeepfake1m.evaluation"].__path__ = [os.path.join(root, "evaluation")]
  stand_ins["avdeepfake1m.utils"].read_json = read_json
  name = "avdeepfake1m.evaluation.auc"
  saved = {n: sys.modules.get(n) for n in [*stand_ins, name]}
  sys.modules.update(stand_ins)
  try:
    spec = importlib.util.spec_from_file_location(name, os.path.join(root, "evaluation", "auc.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
  finally:
    for n, m in saved.items():
      if m is None:
        sys.modules.pop(n, None)
      else:
        sys.modules[n] = m
  return module.auc


def _rows(rows, where):
  a = np.asarray(rows, dtype=np.float64)
  if a.size == 0:
    return np.zeros((0, 3))
  if a.ndim != 2 or a.shape[1] != 3:
    raise DataError(f"{where}: expected rows [score, start_s, end_s], got shape {a.shape}")
  if not np.isfinite(a).all() or (a[:, 2] < a[:, 1]).any():
    raise DataError(f"{where}: expected finite rows [score, start_s, end_s] with end >= start")
  return a


def write_segments(path, segments):
  """Write `{file: [[score, start_s, end_s], ...]}` in the challenge format, each video's rows
    sorted by score (highest first: the SDK's AR takes the first N rows in file order and its
    matching takes the first qualifying row). Returns the path."""
  out = {}
  for file, rows in segments.items():
    a = _rows(rows, f"{path}: {file}")
    a = a[np.argsort(-a[:, 0], kind="stable")]
    out[str(file)] = a.tolist() or [NO_PROPOSAL]
  return _dump(path, out)


def write_metadata(path, entries):
  """Write ground truth as AV-Deepfake1M metadata (a JSON list); each entry needs
    METADATA_KEYS (the SDK reads `file` and `fake_segments`; `modify_type` drives
    score_by_type), `original` and `audio_model` are kept when present. Returns the path."""
  out, seen = [], set()
  for e in entries:
    where = f"{path}: {e.get('file', '<entry without file>')}"
    missing = [k for k in METADATA_KEYS if k not in e]
    if missing:
      raise DataError(f"{where}: missing metadata fields {missing}")
    if e["modify_type"] not in MODIFY_TYPES:
      raise DataError(f"{where}: modify_type {e['modify_type']!r} is not one of {MODIFY_TYPES}")
    if (e["modify_type"] == "real") != (len(e["fake_segments"]) == 0):
      raise DataError(f"{where}: modify_type {e['modify_type']!r} with "
                      f"{len(e['fake_segments'])} fake segments")
    if e["file"] in seen:
      raise DataError(f"{where}: listed twice")
    seen.add(e["file"])
    entry = {"original": e.get("original"), "audio_model": e.get("audio_model"), **e}
    for k in ("fake_segments", "visual_fake_segments", "audio_fake_segments"):
      entry[k] = _segments(e[k], f"{where}: {k}")
    out.append(entry)
  return _dump(path, out)


def lavdf_metadata(entry):
  """One LAV-DF metadata entry (`fake_periods`, `modify_video`, `modify_audio`) as an
    AV-Deepfake1M one: LAV-DF's modality flags hold for every period of the video."""
  periods, video, audio = entry["fake_periods"], entry["modify_video"], entry["modify_audio"]
  kind = ("both_modified" if video and audio else
          "visual_modified" if video else "audio_modified" if audio else "real")
  return {
      "file": entry["file"],
      "original": entry.get("original"),
      "split": entry["split"],
      "modify_type": kind,
      "audio_model": None,
      "fake_segments": periods,
      "visual_fake_segments": periods if video else [],
      "audio_fake_segments": periods if audio else [],
      "video_frames": entry["video_frames"],
      "audio_frames": entry["audio_frames"]
  }


def write_scores(path, scores):
  """Write `file;score` lines (the challenge's classification format). Returns the path."""
  lines = []
  for file, s in scores.items():
    if ";" in file or "\n" in file or not math.isfinite(float(s)):
      raise DataError(f"{path}: {file!r}: expected a name without ';' and a finite score")
    lines.append(f"{file};{float(s)!r}\n")
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w") as f:
    f.writelines(lines)
  return path


def write_submission(directory, segments=None, scores=None, files=None):
  """The test-set files the challenge server takes: `prediction.json` (task 2, segments) and/or
    `prediction.txt` (task 1, `file;score`), both zipped flat into `submission.zip` to upload to
    Codabench ("My Submissions", select the tasks; deepfakes1m.github.io, 2024 and 2025
    evaluation pages; the 2025 page asks for a JSON under 4 GB). `files`: the test list
    (test_files.txt) that every given prediction must cover exactly. Returns the zip's path."""
  if segments is None and scores is None:
    raise ValueError("write_submission needs segments, scores or both")
  written = []
  for name, preds, write in (("prediction.json", segments, write_segments), ("prediction.txt",
                                                                             scores, write_scores)):
    if preds is None:
      continue
    if files is not None and set(preds) != set(files):
      lost, extra = sorted(set(files) - set(preds)), sorted(set(preds) - set(files))
      raise DataError(f"{name}: {len(lost)} test files without a prediction {lost[:3]}, "
                      f"{len(extra)} not in the test list {extra[:3]}")
    written.append(write(os.path.join(directory, name), preds))
  path = os.path.join(directory, "submission.zip")
  with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
    for p in written:
      z.write(p, os.path.basename(p))
  return path


def score(segments_json, metadata_json, protocol="av_deepfake1m"):
  """The SDK's AP and AR of a segments file against a metadata file, as fractions in [0, 1]:
    keys `AP@<iou>`, `AR@<n>`, `mean_AP`, `mean_AR` and `score` (the challenge score,
    mean_AP / 2 + mean_AR / 2: deepfakes1m.github.io/2025/details)."""
  p = _protocol(protocol)
  segments_json, metadata_json = os.fspath(segments_json), os.fspath(metadata_json)  # Rust: str
  _check_pair(segments_json, metadata_json)
  got = _evaluation().ap_ar_1d(segments_json, metadata_json, "file", "fake_segments", 1.0,
                               list(p.ap_iou), list(p.ar_n), list(p.ar_iou))
  # The SDK's keys are float32 thresholds (0.8999999761581421): taken by nearest value.
  near = lambda d, k: next(v for key, v in d.items() if abs(key - k) < 1e-6)
  out = {f"AP@{t:g}": float(near(got["ap"], t)) for t in p.ap_iou}
  out.update({f"AR@{n}": float(got["ar"][n]) for n in p.ar_n})
  out["mean_AP"] = float(np.mean([out[f"AP@{t:g}"] for t in p.ap_iou]))
  out["mean_AR"] = float(np.mean([out[f"AR@{n}"] for n in p.ar_n]))
  out["score"] = out["mean_AP"] / 2 + out["mean_AR"] / 2
  return out


def score_by_type(segments_json, metadata_json, protocol="av_deepfake1m", with_real=True):
  """`score` per fake modify_type: {type: metrics}. Each subset holds the videos of that type
    plus, with `with_real`, every real video (their proposals are the false alarms that cost AP
    on the full set too; LAV-DF's evaluate.py subsets keep the reals the same way). A subset of
    reals alone has no segment, and no AP, so "real" is never a row."""
  _check_pair(segments_json, metadata_json)
  segments, metadata = _load(segments_json), _load(metadata_json)
  out = {}
  with tempfile.TemporaryDirectory() as tmp:
    for kind in MODIFY_TYPES[1:]:
      sub = [e for e in metadata if e.get("modify_type") == kind]
      if not sub:
        continue
      sub += [e for e in metadata if with_real and e.get("modify_type") == "real"]
      meta_path, seg_path = os.path.join(tmp, f"{kind}_m.json"), os.path.join(tmp, f"{kind}_s.json")
      _dump(meta_path, sub)
      _dump(seg_path, {e["file"]: segments[e["file"]] for e in sub})
      out[kind] = score(seg_path, meta_path, protocol)
  if not out:
    raise DataError(f"{metadata_json}: no entry with a fake modify_type {MODIFY_TYPES[1:]}")
  return out


def clip_auc(scores_txt, metadata_json):
  """Clip-level AUC by the SDK's `auc` (torchmetrics AUROC): a video is fake when it has a fake
    segment; scores are the `file;score` lines of `scores_txt`."""
  metadata = _load_metadata(metadata_json)
  scores = {}
  with open(_existing(scores_txt)) as f:
    for i, line in enumerate(f, 1):
      if not line.strip():
        continue  # pandas, which the SDK reads the file with, skips blank lines too
      name, sep, value = line.strip().rpartition(";")
      try:
        scores[name] = float(value)
      except ValueError:
        sep = ""
      if not sep:
        raise DataError(f"{scores_txt}:{i}: expected a `file;score` line, got {line.strip()!r}")
  _covers(scores, metadata, scores_txt, metadata_json)
  if len({bool(e["fake_segments"]) for e in metadata}) < 2:
    raise DataError(f"{metadata_json}: AUC needs both real and fake videos")
  return float(_sdk_auc()(os.fspath(scores_txt), os.fspath(metadata_json), "file", "fake_segments"))


def soft_nms(proposals, sigma=0.75, top_k=100, min_score=0.001):
  """Gaussian Soft-NMS over 1-D segments: repeatedly keep the highest-scoring row and multiply
    every remaining row's score by exp(-IoU^2 / sigma), dropping rows below min_score.

    proposals: float [N, 3] rows (score, start, end). Returns at most top_k rows, sorted by
    score (the kept, decayed scores). Defaults are UMMAFormer's LAV-DF test config
    (configs/UMMAFormer/lavdf_tsn_byola.yaml: nms_sigma 0.75, max_seg_num 100, min_score
    0.001), decaying every overlap as ActionFormer's Gaussian soft-NMS does. BA-TFD+ (LAV-DF
    config/batfd_plus_default.toml) decays with alpha 0.7234 but only above a length-dependent
    IoU threshold, and keeps up to 101.
    """
  p = _rows(proposals, "soft_nms").copy()
  kept = []
  while len(p) and len(kept) < top_k:
    i = int(np.argmax(p[:, 0]))
    best, p = p[i], np.delete(p, i, axis=0)
    kept.append(best)
    p[:, 0] *= np.exp(-_iou(best, p)**2 / sigma)
    p = p[p[:, 0] >= min_score]
  return np.array(kept, dtype=np.float64).reshape(-1, 3)


def segments_from_frame_scores(scores, fps, thresholds=(0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)):
  """Baseline proposals from a per-frame fake score: every run of consecutive frames with
    score >= a threshold becomes a segment [first / fps, (last + 1) / fps] scored by the mean
    frame score over the run (frame i covers [i / fps, (i + 1) / fps)). A ladder of thresholds
    gives nested segments of several lengths, the same run once; run soft_nms over the result.
    Returns float [N, 3] rows (score, start_s, end_s) sorted by score."""
  s = np.asarray(scores, dtype=np.float64).reshape(-1)
  found = {}
  for t in np.atleast_1d(thresholds):
    above = np.concatenate([[False], s >= t, [False]])
    edges = np.flatnonzero(np.diff(above.astype(np.int8)))
    for a, b in zip(edges[::2], edges[1::2]):  # a run is frames a .. b - 1
      found[(a, b)] = s[a:b].mean()
  rows = [[v, a / fps, b / fps] for (a, b), v in found.items()]
  rows = np.array(rows, dtype=np.float64).reshape(-1, 3)
  return rows[np.argsort(-rows[:, 0], kind="stable")]


def proposals_from_frames(frame_out,
                          fps,
                          min_score=0.05,
                          sigma=0.75,
                          top_k=100,
                          nms_min_score=0.001):
  """Proposals of an anchor-free localizer (objective 'localize'): every frame t of a video's
    stitched outputs whose p_either >= min_score proposes [(t - d_start) / fps,
    (t + d_end + 1) / fps] (clipped to the video) scored by p_either, and soft_nms (sigma,
    top_k, nms_min_score) keeps the best of each cluster of near-identical votes.

    frame_out: float [T, 5] rows (p_either, p_visual, p_audio, d_start, d_end), distances in
    frames. Returns float [N, 3] rows (score, start_s, end_s) sorted by score (N may be 0)."""
  a = np.asarray(frame_out, dtype=np.float64)
  if a.ndim != 2 or a.shape[1] != 5 or not np.isfinite(a).all():
    raise DataError(f"proposals_from_frames: expected finite [T, 5] frame outputs, got shape "
                    f"{a.shape}")
  t = np.arange(len(a))
  keep = a[:, 0] >= min_score
  duration = len(a) / fps
  start = np.clip((t - np.maximum(a[:, 3], 0)) / fps, 0.0, duration)
  end = np.clip((t + np.maximum(a[:, 4], 0) + 1) / fps, 0.0, duration)
  rows = np.stack([a[:, 0], start, end], -1)[keep]
  return soft_nms(rows, sigma=sigma, top_k=top_k, min_score=nms_min_score)


def _iou(seg, rows):
  inter = np.clip(np.minimum(seg[2], rows[:, 2]) - np.maximum(seg[1], rows[:, 1]), 0, None)
  union = (seg[2] - seg[1]) + (rows[:, 2] - rows[:, 1]) - inter
  return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _protocol(name):
  if name not in PROTOCOLS:
    raise ValueError(f"unknown localization protocol {name!r}; known: {sorted(PROTOCOLS)}")
  return PROTOCOLS[name]


def _segments(segs, where):
  a = np.asarray(segs, dtype=np.float64)
  if a.size and (a.ndim != 2 or a.shape[1] != 2 or
                 (a[:, 1] < a[:, 0]).any() or not np.isfinite(a).all()):
    raise DataError(f"{where}: expected [[start_s, end_s], ...] with end >= start")
  return a.reshape(-1, 2).tolist()


def _dump(path, obj):
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w") as f:
    json.dump(obj, f, allow_nan=False)
  return path


def _existing(path):
  if not os.path.isfile(path):
    raise DataError(f"{path}: no such file")
  return path


def _load(path):
  try:
    with open(_existing(path)) as f:
      return json.load(f)
  except json.JSONDecodeError as e:
    raise DataError(f"{path}: not JSON ({e})") from None


def _load_metadata(path):
  meta = _load(path)
  if not isinstance(meta, list) or not all(
      isinstance(e, dict) and "file" in e and "fake_segments" in e for e in meta):
    raise DataError(f"{path}: expected AV-Deepfake1M metadata, a list of entries with `file` "
                    f"and `fake_segments`")
  files = [e["file"] for e in meta]
  if len(set(files)) != len(files):
    raise DataError(f"{path}: a file is listed twice")
  for e in meta:
    _segments(e["fake_segments"], f"{path}: {e['file']}")
  return meta


def _covers(preds, metadata, preds_path, metadata_path):
  lost = [e["file"] for e in metadata if e["file"] not in preds]
  if lost:
    raise DataError(f"{preds_path}: no prediction for {len(lost)} of the {len(metadata)} files "
                    f"of {metadata_path} (first: {lost[0]})")


def _check_pair(segments_json, metadata_json):
  """What the SDK would panic on (a BaseException with a Rust message), as one clear line."""
  metadata, segments = _load_metadata(metadata_json), _load(segments_json)
  if not isinstance(segments, dict):
    raise DataError(f"{segments_json}: expected a JSON object {{file: [[score, start, end]]}}")
  _covers(segments, metadata, segments_json, metadata_json)
  if not any(e["fake_segments"] for e in metadata):
    raise DataError(f"{metadata_json}: no fake segment, so AP is undefined")
  unsorted = 0
  for e in metadata:
    rows = _rows(segments[e["file"]], f"{segments_json}: {e['file']}")
    if not len(rows):
      raise DataError(f"{segments_json}: {e['file']}: an empty row list, which the SDK cannot "
                      f"read; write {NO_PROPOSAL} for no proposal (write_segments does)")
    unsorted += bool((np.diff(rows[:, 0]) > 0).any())
  if unsorted:
    warnings.warn(f"{segments_json}: rows of {unsorted} videos are not sorted by score; the SDK "
                  f"takes them in file order (write_segments sorts)")
