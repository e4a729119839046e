"""A localization run (configs/localization.py) as a detector: video file -> fake segments.

Same interface as predict.detector.Detector, so predict, its JSON and the web page serve it:
the video is encoded in the run's dense media setting (every frame), cut into the segments
view's windows, scored by the objective's score as in evaluation, stitched back, and turned
into proposals with Soft-NMS (the evaluation path, train/localize_eval.py). A result then has

  fake_probability  the highest frame score (the clip-level score of the evaluation)
  frame_scores      every frame's fake probability (either modality); frame_times their times
  segments          [{start, end, score, modality}]: the proposals scoring at least the
                    threshold, highest first, times in seconds; modality is visual, audio or
                    both, from the mean visual and audio frame probabilities over the segment
                    (both when each is at least half of the larger)

The threshold is the one of best balanced accuracy on the validation videos' clip scores
(detector.json, as for a frame run). No heatmaps: the model has no spatial map to explain.
"""
import numpy as np

from fakedetect_jax.errors import ConfigError
from fakedetect_jax.evaluate import localization
from fakedetect_jax.input import views, windows
from fakedetect_jax.predict import detector as detector_lib

BRANCH = "localizer"
ROWS_PER_CALL = 8  # windows scored per call: one compiled shape for every video


class Localizer(detector_lib.Detector):
  explains = False
  branch = BRANCH

  def _check_run(self, config, workdir):
    if config.data.get("view") != "segments" or config.get("objective") != "localize":
      raise ConfigError(
          f"{workdir}: not a localization run (view {config.data.get('view')!r}, "
          f"objective {config.get('objective')!r}; configs/localization.py trains one)")

  def _encode_config(self):
    return self.media  # every frame with mouth crops and audio: the dense setting as trained

  def _example(self):
    """A zero window of the run's media setting, batch 1 (shapes only, for model.init)."""
    m = detector_lib._media_config(self.config)
    n = views.window(self.config.data)[0]
    zero = {
        "frames": np.zeros((n, m.face_size, m.face_size, 3), np.uint8),
        "mouth": np.zeros((n, m.mouth_size, m.mouth_size), np.uint8),
        "audio": np.zeros((n, m.audio_window, m.n_mels), np.float32),
        "audio_valid": np.zeros((n, m.audio_window), bool),
        "has_audio": np.bool_(False),
        "face_found": np.zeros(n, bool),
    }
    return {k: v[None] for k, v in views.to_model_inputs(zero, self.config.data, 0).items()}

  def video_outputs(self, ex):
    """[T, C] stitched per-frame outputs of an encoded video (the objective's score)."""
    rows = views.to_model_inputs(ex, self.config.data)
    k = len(rows["frames"])
    pad = -k % ROWS_PER_CALL
    out = []
    for lo in range(0, k + pad, ROWS_PER_CALL):
      batch = {name: _rows(v, lo, ROWS_PER_CALL) for name, v in rows.items()}
      out.append(np.asarray(self._score(self.variables, batch)))
    outputs = np.concatenate(out)[:k]
    length, stride = views.window(self.config.data)
    return windows.stitch(outputs, len(ex["frames"]), length, stride)

  def segments(self, frame_out, times):
    fps = 1.0 / float(np.median(np.diff(times))) if len(times) > 1 else 25.0
    rows = localization.proposals_from_frames(frame_out, fps)
    found = []
    for score, start, end in rows:
      if score < self.threshold:
        break  # rows come highest first
      a = int(np.floor(start * fps + 1e-6))
      b = max(int(np.ceil(end * fps - 1e-6)), a + 1)
      visual, audio = (float(np.mean(frame_out[a:b, c])) for c in (1, 2))
      top = max(visual, audio)
      modality = ("both" if min(visual, audio) >= top /
                  2 else "visual" if visual >= audio else "audio")
      found.append({
          "start": round(float(start + times[0]), 3),
          "end": round(float(end + times[0]), 3),
          "score": round(float(score), 4),
          "modality": modality
      })
    return found

  def score_example(self, ex):
    """(fake probability, {localizer: {model, score}}, per-frame scores, segments)."""
    frame_out = self.video_outputs(ex)
    p = float(np.max(frame_out[:, 0])) if len(frame_out) else float("nan")
    branches = {BRANCH: {"model": self.model_name, "score": round(p, 4)}}
    times = np.asarray(ex["timestamps"], np.float64)
    return p, branches, frame_out[:, 0], self.segments(frame_out, times)

  def heatmaps(self, frames):
    raise ConfigError("a localization run has no heatmaps (its model has no spatial map)")

  def warm_up(self):
    import os
    import tempfile
    from fakedetect_jax import media
    from fakedetect_jax.predict import clip
    with tempfile.TemporaryDirectory(prefix="fakedetect-warmup-") as tmp:
      path = os.path.join(tmp, "warmup.mp4")
      media.write_video(path, np.full((8, 64, 64, 3), 128, np.uint8), fps=8)
      clip.analyse(self, path)

  def _calibrate_scores(self, source):
    """(labels, clip scores) of the validation videos: each video's top frame score."""
    from fakedetect_jax.train import localize_eval
    labels, scores = [], []
    for r, rows in localize_eval.video_rows(source).items():
      labels.append(int(source.labels[rows].max() > 0))
      scores.append(float(np.max(self.video_outputs(source.records[r])[:, 0])))
    return np.asarray(labels), np.asarray(scores)


def _rows(v, lo, n):
  """Rows lo .. lo + n - 1 of v, the missing ones (past the video's last window) as zeros."""
  part = v[lo:lo + n]
  if len(part) == n:
    return part
  return np.concatenate([part, np.zeros((n - len(part),) + v.shape[1:], v.dtype)])
