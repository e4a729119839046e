"""Scoring a localization model (the segments view) on a split, with the field's evaluator.

The model gives every window's frames [L, C] outputs (objective 'localize': fake probability
of either modality, visual, audio, and the distances back to the segment's start and forward to
its end, in frames). Per video the windows are stitched back into [T, C]
(input/windows.stitch), turned into proposals (evaluate.localization.proposals_from_frames:
each fake-looking frame proposes the segment its distances point at, then Soft-NMS), and scored
by the avdeepfake1m SDK against the split's ground truth written in AV-Deepfake1M's metadata
format: AP/AR by the dataset's protocol (config.eval.protocol, default lavdf for LAV-DF and
av_deepfake1m otherwise) and the same per modify type, plus the clip-level video AUC of each
video's highest frame score and the frame-level AUC of every frame.

`save` writes what anyone can rescore with the SDK: predictions/<split>_segments.json (file ->
[[score, start_s, end_s], ...]), <split>_metadata.json (ground truth) and <split>_scores.txt
(file;score). A split without labels (AV-Deepfake1M's `submission`: the test_files.txt videos)
gets no metrics; `submission` zips its files for the challenge server.
"""
import os
import tempfile

import jax
import numpy as np

from fakedetect_jax import evaluate
from fakedetect_jax.evaluate import localization, metrics
from fakedetect_jax.input import views, windows

GROUND_TRUTH_KEYS = ("video_id", "timestamps", "fake_segments", "visual_fake_segments",
                     "audio_fake_segments", "modify_type", "source_id")
SAMPLE_RATE = 16000  # AV-Deepfake1M's audio_frames count samples at 16 kHz


def protocol(config):
  name = config.eval.get("protocol", "")
  return name or ("lavdf" if config.data.dataset == "lavdf" else "av_deepfake1m")


def _text(v):
  return v.decode() if isinstance(v, bytes) else str(v)


def ground_truth(source):
  """Per record of the source: (file, fps, first frame time, metadata entry or None when the
  dataset withholds the labels). Read once per source."""
  cached = getattr(source, "_ground_truth", None)
  if cached is not None:
    return cached
  records = sorted(set(source.row_record.tolist()))
  out = {}
  for start in range(0, len(records), 256):
    chunk = records[start:start + 256]
    for r, ex in zip(chunk, source.records.read_many(chunk, set(GROUND_TRUTH_KEYS))):
      times = np.asarray(ex["timestamps"], np.float64)
      fps = 1.0 / float(np.median(np.diff(times))) if len(times) > 1 else 25.0
      file = _text(ex["video_id"])
      n = len(times)
      kind = _text(ex["modify_type"])
      entry = None
      if kind in localization.MODIFY_TYPES:  # else a hidden label (the submission split)
        entry = {
            "file": file,
            "original": _text(ex.get("source_id", b"")) or None,
            "split": "",
            "modify_type": kind,
            "fake_segments": np.asarray(ex["fake_segments"]).reshape(-1, 2).tolist(),
            "visual_fake_segments": np.asarray(ex["visual_fake_segments"]).reshape(-1, 2).tolist(),
            "audio_fake_segments": np.asarray(ex["audio_fake_segments"]).reshape(-1, 2).tolist(),
            "video_frames": n,
            "audio_frames": int(round(n / fps * SAMPLE_RATE)),
        }
      out[r] = (file, fps, float(times[0]) if n else 0.0, entry)
  source._ground_truth = out
  return out


def stitch_videos(outputs, source):
  """{record: [T, C] stitched outputs} from the rows' outputs [N, L, C] (rows in any order)."""
  length, stride = views.window(source.data_config)
  out = {}
  for r, rows in video_rows(source).items():
    out[r] = windows.stitch(outputs[rows], int(source.record_frames[r]), length, stride)
  return out


def video_rows(source):
  """{record: its rows in window order}, grouped in one sort (not a scan per video)."""
  order = np.lexsort((source.row_part, source.row_record))
  records = source.row_record[order]
  cuts = np.flatnonzero(np.diff(records)) + 1
  return {int(g[0]): o for g, o in zip(np.split(records, cuts), np.split(order, cuts)) if len(g)}


def score_source(eval_step, state, source, config, sharding):
  """(row outputs [N, L, C], metrics) of a segments-view source; metrics as evaluate_scores'
  (video level from each video's top frame score), frame_auc / frame_ap over every frame, the
  SDK's AP@..., AR@..., mean_AP, mean_AR, score and `by_modify_type` where labelled, and the
  private _segments / _scores / _metadata that `save` writes."""
  from fakedetect_jax.train import evals as evals_lib
  outputs = evals_lib.predict(eval_step, state, source, config.eval.batch_size, sharding)
  truth = ground_truth(source)
  stitched = stitch_videos(outputs, source)
  segments, scores, meta = {}, {}, []
  frame_scores, frame_labels = [], []
  order = sorted(stitched)
  for r in order:
    file, fps, t0, entry = truth[r]
    frame_out = stitched[r]
    rows = localization.proposals_from_frames(frame_out, fps)
    rows[:, 1:] += t0
    segments[file] = rows
    scores[file] = float(np.max(frame_out[:, 0]))
    if entry is not None:
      meta.append(entry)
      frame_scores.append(frame_out[:, 0])
      frame_labels.append(
          _frame_labels(np.asarray(entry["fake_segments"]), len(frame_out), fps, t0))
  result = {"_segments": segments, "_scores": scores, "_metadata": meta, "n_videos": len(order)}
  if not meta:
    return outputs, result
  labels = np.array([int(e["modify_type"] != "real") for e in meta])
  video = evaluate.evaluate_scores(
      np.array([scores[e["file"]] for e in meta]),
      labels,
      np.arange(len(meta)),
      np.array([e["modify_type"] for e in meta]),
      "mean",
      config.eval.threshold,
      frame_level=False)
  result.update({k: v for k, v in video.items() if k != "deepfakebench"})
  frames_s, frames_l = np.concatenate(frame_scores), np.concatenate(frame_labels)
  if len(np.unique(frames_l)) == 2:
    result["frame_auc"] = metrics.auc(frames_l, frames_s)
    result["frame_ap"] = metrics.average_precision(frames_l, frames_s)
  result["n_frames"] = int(frames_s.size)
  if labels.any():
    result.update(_sdk_scores(segments, meta, protocol(config)))
  return outputs, result


def _frame_labels(segments, n, fps, t0):
  from fakedetect_jax.media import segments as segments_lib
  return segments_lib.frame_labels(segments, t0 + np.arange(n) / fps).astype(np.int64)


def _sdk_scores(segments, meta, protocol_name):
  with tempfile.TemporaryDirectory() as tmp:
    seg_path = localization.write_segments(
        os.path.join(tmp, "segments.json"), {e["file"]: segments[e["file"]] for e in meta})
    meta_path = localization.write_metadata(os.path.join(tmp, "metadata.json"), meta)
    out = localization.score(seg_path, meta_path, protocol_name)
    out["by_modify_type"] = localization.score_by_type(seg_path, meta_path, protocol_name)
  out["protocol"] = protocol_name
  return out


def save(workdir, split, result):
  """predictions/<split>_segments.json, _scores.txt and, where labelled, _metadata.json (host 0)."""
  if jax.process_index() != 0:
    return
  base = os.path.join(workdir, "predictions", split)
  localization.write_segments(base + "_segments.json", result["_segments"])
  localization.write_scores(base + "_scores.txt", result["_scores"])
  if result["_metadata"]:
    meta = [dict(e, split=split) for e in result["_metadata"]]
    localization.write_metadata(base + "_metadata.json", meta)


def challenge_name(video_id, folder="test"):
  """The name the challenge server knows a video by: its path under the split's folder
  (AV-Deepfake1M's test_files.txt lines), i.e. video_id after its last `folder/`."""
  parts = video_id.split("/")
  at = max((i for i, p in enumerate(parts[:-1]) if p == folder), default=-1)
  return "/".join(parts[at + 1:])


def write_run_submission(workdir, split="submission", files=None):
  """predictions/submission/submission.zip (prediction.json: segments, prediction.txt: clip
  scores) from a run's scored `split` (predictions/<split>_segments.json and _scores.txt, as
  `python -m fakedetect_jax.evaluate --submission` writes them), the videos named as the
  challenge names them (challenge_name); `files`: the test list every prediction must cover
  (None: not checked). Returns the zip's path."""
  import json
  base = os.path.join(workdir, "predictions", split)
  with open(base + "_segments.json") as f:
    segments = {challenge_name(k): v for k, v in json.load(f).items()}
  scores = {}
  with open(base + "_scores.txt") as f:
    for line in f:
      name, _, value = line.rstrip("\n").rpartition(";")
      scores[challenge_name(name)] = float(value)
  directory = os.path.join(workdir, "predictions", "submission")
  os.makedirs(directory, exist_ok=True)
  return localization.write_submission(directory, segments=segments, scores=scores, files=files)
