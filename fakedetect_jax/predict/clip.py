"""One video through a Detector: the result record every front end (CLI, web page) shows.

Result fields (JSON):
  file              the path as given (the web page: the uploaded file's name, never a path)
  ok                true; false with `error` (one line) when the file could not be read
  verdict           "fake" | "real": fake_probability >= threshold ("unknown" when no branch
                    of a fused detector had input)
  fake_probability  the video score in [0, 1] (a run: its video strategy over frame scores; a
                    fused detector: the fusion of its branches)
  threshold         the detector's threshold (see predict.detector)
  branches          {name: {"model", "score"}}: "frames" for a run; each branch of a fused
                    detector (score null without input; the lip-sync branch adds "offset", the
                    best audio shift in frames, and "sync_score")
  frame_scores      fake probability of each sampled face crop (a localization run: of every
                    frame)
  segments          a localization run only (predict.localizer): the fake segments found,
                    [{start, end, score, modality}], seconds, highest score first
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
  ex["frames"] = media.as_stored(ex["frames"], detector.media)
  # A localization run gives its segments as a fourth item.
  p, branches, scores, *segments = detector.score_example(ex)
  found = ex["face_found"].astype(bool)
  warnings = list(report.warnings)
  if not found.any():  # the media report says so too; this says what it means for the verdict
    warnings.append("no face found: the scores are of crops without a face, so the verdict "
                    "means little")
  missing = [n for n, b in branches.items() if b["score"] is None]
  if missing:
    warnings.append(f"no input for {', '.join(missing)} (no face or no audio track): "
                    f"fused without {'it' if len(missing) == 1 else 'them'}")
  known = bool(np.isfinite(p))
  result = {
      "file": name if name is not None else str(path),
      "ok": True,
      "verdict": ("fake" if p >= detector.threshold else "real") if known else "unknown",
      "fake_probability": round(float(p), 4) if known else None,
      "threshold": round(detector.threshold, 4),
      "branches": branches,
      "frame_scores": [round(float(s), 4) if np.isfinite(s) else None for s in scores],
      "frame_times": [round(float(t), 3) for t in ex["timestamps"]],
      "faces_found": int(found.sum()),
      "frames": int(len(found)),
      "duration": round(float(ex["duration"]), 3),
      "warnings": warnings,
  }
  if segments:
    result["segments"] = segments[0]
  extras = {"crops": ex["frames"], "found": found}
  if explain and getattr(detector, "explains", True):
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
    if s is None:  # no branch scored this frame
      draw.text((x + 3, y + size + 2), f"{t:.2f}s  p=-", fill=(90, 90, 90))
      continue
    colour = (190, 0, 0) if s >= result["threshold"] else (0, 110, 0)
    draw.text((x + 3, y + size + 2), f"{t:.2f}s  p={s:.3f}", fill=colour)
  return _png(sheet)


def score_plot(result):
  """PNG bytes: fake probability of each sampled frame over time, with the threshold."""
  from matplotlib.figure import Figure  # no pyplot: safe from any thread
  fig = Figure(figsize=(6, 2.6), dpi=100)
  ax = fig.add_subplot()
  t = result["frame_times"]
  s = [np.nan if v is None else v for v in result["frame_scores"]]
  dense = len(t) > 64  # every frame (a localization run): a line, no markers
  ax.plot(t, s, "-" if dense else "o-", color="tab:red", label="frame fake probability")
  for i, seg in enumerate(result.get("segments", ())):
    ax.axvspan(
        seg["start"],
        seg["end"],
        color={
            "visual": "tab:orange",
            "audio": "tab:purple"
        }.get(seg["modality"], "tab:red"),
        alpha=0.25,
        label="fake segment (orange visual, purple audio, red both)" if i == 0 else None)
  ax.axhline(
      result["threshold"], color="gray", ls="--", label=f"threshold {result['threshold']:.2f}")
  if result["fake_probability"] is not None:
    ax.axhline(
        result["fake_probability"],
        color="tab:blue",
        ls=":",
        label=f"video score {result['fake_probability']:.2f}")
  ax.set(
      ylim=(-0.02, 1.02),
      xlabel="time (s)",
      ylabel="fake probability",
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
