"""One video through a Detector: the result record every front end (CLI, web page) shows.

Result fields (JSON):
  file              the path as given (the web page: the uploaded file's name, never a path)
  ok                true; false with `error` (one line) when the file could not be read
  verdict           "fake" | "real": fake_probability >= threshold
  fake_probability  the video score in [0, 1] (the detector's video strategy over frame scores)
  threshold         the detector's threshold (see predict.detector)
  branches          {name: {"model", "score"}}; one branch so far: "frames"
  frame_scores      fake probability of each sampled face crop
  frame_times       seconds of each sampled frame
  faces_found       sampled frames where the face detector found the face; `frames` in all
  duration          seconds of video
  warnings          recoverable problems (no face, corrupt frames, ...) in plain words
  seconds           time taken for this file
"""
import io
import time

import numpy as np

from fakedetect_jax import media


def analyse(detector, path, explain=False, name=None):
  """(result dict, extras) for one file; extras holds crops and heatmaps when explain is set.

  Raises media.MediaError for a file that cannot be read as a video.
  """
  t0 = time.perf_counter()
  ex, report = media.encode_video_with_report(path, detector.encode_cfg)
  scores = detector.frame_scores(ex["frames"])
  p = detector.video_score(scores)
  found = ex["face_found"].astype(bool)
  warnings = list(report.warnings)
  if not found.any():  # the media report says so too; this says what it means for the verdict
    warnings.append("no face found: the scores are of crops without a face, so the verdict "
                    "means little")
  result = {
      "file": name if name is not None else str(path), "ok": True,
      "verdict": "fake" if p >= detector.threshold else "real",
      "fake_probability": round(p, 4), "threshold": round(detector.threshold, 4),
      "branches": {"frames": {"model": detector.model_name, "score": round(p, 4)}},
      "frame_scores": [round(float(s), 4) for s in scores],
      "frame_times": [round(float(t), 3) for t in ex["timestamps"]],
      "faces_found": int(found.sum()), "frames": int(len(found)),
      "duration": round(float(ex["duration"]), 3), "warnings": warnings,
  }
  extras = {"crops": ex["frames"], "found": found}
  if explain:
    extras["heat"] = detector.heatmaps(ex["frames"])
  result["seconds"] = round(time.perf_counter() - t0, 3)
  return result, extras


def error_result(path, err):
  return {"file": str(path), "ok": False, "error": str(err)}


# ---- pictures -------------------------------------------------------------------------------
def overlays(crops, heat, size=128):
  """Face crops with the heatmap drawn over them, each resized to size x size (uint8)."""
  from PIL import Image
  from fakedetect_jax.explain import overlay
  out = []
  for crop, h in zip(crops, heat):
    img = Image.fromarray(overlay(crop, h)).resize((size, size), Image.BILINEAR)
    out.append(np.asarray(img))
  return out


def contact_sheet(result, crops, heat, cols=8, size=128):
  """PNG bytes: a grid of the sampled faces with Grad-CAM, each captioned with its score."""
  from PIL import Image, ImageDraw
  tiles = overlays(crops, heat, size)
  rows = -(-len(tiles) // cols)
  cols = min(cols, len(tiles))
  cap = 16
  sheet = Image.new("RGB", (cols * size, rows * (size + cap)), "white")
  draw = ImageDraw.Draw(sheet)
  for i, (tile, s, t) in enumerate(zip(tiles, result["frame_scores"], result["frame_times"])):
    x, y = (i % cols) * size, (i // cols) * (size + cap)
    sheet.paste(Image.fromarray(tile), (x, y))
    colour = (190, 0, 0) if s >= result["threshold"] else (0, 110, 0)
    draw.text((x + 3, y + size + 2), f"{t:.2f}s  p={s:.3f}", fill=colour)
  return _png(sheet)


def score_plot(result):
  """PNG bytes: fake probability of each sampled frame over time, with the threshold."""
  from matplotlib.figure import Figure  # no pyplot: safe from any thread
  fig = Figure(figsize=(6, 2.6), dpi=100)
  ax = fig.add_subplot()
  t, s = result["frame_times"], result["frame_scores"]
  ax.plot(t, s, "o-", color="tab:red", label="frame fake probability")
  ax.axhline(result["threshold"], color="gray", ls="--", label=f"threshold {result['threshold']:.2f}")
  ax.axhline(result["fake_probability"], color="tab:blue", ls=":",
             label=f"video score {result['fake_probability']:.2f}")
  ax.set(ylim=(-0.02, 1.02), xlabel="time (s)", ylabel="fake probability",
         title=f"{result['verdict'].upper()}: {result['file'].split('/')[-1]}")
  ax.legend(fontsize=7, loc="best")
  fig.tight_layout()
  buf = io.BytesIO()
  fig.savefig(buf, format="png")
  return buf.getvalue()


def _png(image):
  buf = io.BytesIO()
  image.save(buf, format="PNG")
  return buf.getvalue()
