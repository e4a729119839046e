"""Views: what one model-input row is made of, cut from one stored example.

A stored example is one video as the media encoder made it (frames [T,S,S,3] uint8 face crops,
mouth [T,M,M], audio [T,W,80], masks...). A view cuts it into rows of model inputs, every view
giving the same kind of row, a dict of arrays:

  frames  image [H,W,3] uint8: one face frame (a video gives T rows)
  clips   frames [L,H,W,3] uint8, face_found [L] (L = data.clip_len consecutive frames; a video
          gives T // L rows)
  av      frames, mouth [L,M,M] uint8, audio [L,W,80] float32, audio_valid [L,W], has_audio [],
          face_found [L], eye_aspect_ratio [L]
  audio   audio, audio_valid, has_audio (one row per video)
  segments  the av row's streams over a window of data.window consecutive frames (default 64)
          plus frame_valid [L] (False on padding); windows start every data.window_stride
          frames (default window // 2) and the last ends on the video's last frame
          (input/windows.py), so a dense video of T frames gives about 2 T / window rows. A
          Source's rows also carry the per-frame targets `frame_labels` [L, 3] int32 (either
          modality, visual, audio: the stored frame_label, frame_label_visual,
          frame_label_audio; 0 on padding).

`to_model_inputs` is the one function that does this, for training, evaluation, predict and
serve alike: the one resize (face crops to data.image_size) lives here, and the one
normalisation (uint8 -> [-1, 1] on the device) in train/step.py. Frames may arrive still
JPEG-encoded (a list of bytes, as the data source reads them): only the frames a row needs are
decoded, with the decoder TFDS itself uses for Image features (OpenCV).

With data.trim_leading_silence, the views whose rows span time (clips, av, audio) first cut the
leading silence off the example (`trim_leading_silence`): FakeAVCeleb's and AV-Deepfake1M's fakes
tend to start with a short silence that alone tells them apart (AVH-Align, CVPR 2025), and a
model should not learn that. The frames view is never trimmed (a single frame carries no time).
"""
import cv2
import numpy as np

from fakedetect_jax.errors import DataError
from fakedetect_jax.input import windows as windows_lib
from fakedetect_jax.media import audio as audio_lib, features
from fakedetect_jax.media.config import MediaConfig

VIEWS = ("frames", "clips", "av", "audio", "segments")
# Stored features each view reads (beyond the labels).
STORED_KEYS = {
    "frames": ("frames",),
    "clips": ("frames", "face_found"),
    "av":
        ("frames", "mouth", "audio", "audio_valid", "has_audio", "face_found", "eye_aspect_ratio"),
    "audio": ("audio", "audio_valid", "has_audio"),
    "segments": ("frames", "mouth", "audio", "audio_valid", "has_audio", "face_found"),
}
# The segments view's per-frame targets, stored by the localization builders
# (builder_lib.localization_labels), as the channels of `frame_labels`.
TARGET_KEYS = ("frame_label", "frame_label_visual", "frame_label_audio")
DEFAULT_WINDOW = 64
# Stored features that are not per frame: repeated for every row of the video.
PER_VIDEO = ("has_audio",)
# Leading-silence trimming: the views it applies to, what it reads beyond the view's own
# features, and the per-frame features it moves (every one the example holds).
TRIMMED_VIEWS = ("clips", "av", "audio")
TRIM_KEYS = ("audio", "audio_valid", "timestamps", "has_audio")
PER_FRAME = ("frames", "mouth", "audio", "audio_valid", "face_found", "mouth_found",
             "face_landmarks", "eye_aspect_ratio", "timestamps", "frame_indices", "face_scores",
             "boxes", "mouth_boxes")
# Mel hop of the stored audio when the caller does not say (every builder keeps the default).
DEFAULT_HOP = MediaConfig.hop_seconds


def check_view(view):
  if view not in VIEWS:
    raise DataError(f"unknown data.view {view!r}; known: {', '.join(VIEWS)}")


def clip_len(data_config):
  return int(data_config.clip_len) if data_config.view in ("clips", "av") else 0


def window(data_config):
  """(frames per window, stride) of the segments view."""
  length = int(data_config.get("window", DEFAULT_WINDOW))
  return length, int(data_config.get("window_stride", 0) or max(length // 2, 1))


def rows_per_video(num_frames, data_config):
  """How many rows a video of num_frames stored frames gives in data_config's view."""
  view = data_config.view
  if view == "segments":
    return windows_lib.num_windows(num_frames, *window(data_config))
  if view == "frames":
    return num_frames
  if view == "audio":
    return 1
  length = clip_len(data_config)
  if length > num_frames:
    raise DataError(f"data.clip_len {length} is longer than the {num_frames} stored frames of "
                    f"a video")
  return num_frames // length


def decode_jpeg(data):
  """One stored face crop -> uint8 [H,W,3] RGB (media.features.decode_jpeg, the one decoder)."""
  try:
    return features.decode_jpeg(data)
  except ValueError as e:
    raise DataError(str(e)) from None


def resize(image, size):
  """uint8 [H,W,3] -> [size,size,3]; area averaging when shrinking (antialiased), bilinear when
  enlarging. Identity at the stored size."""
  if image.shape[0] == size and image.shape[1] == size:
    return np.asarray(image)
  interp = cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_LINEAR
  return cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=interp)


def _frames(stored, lo, hi, size):
  """Frames lo..hi-1 of a stored example at size x size (decoding only those)."""
  out = np.empty((hi - lo, size, size, 3), np.uint8)
  for j, i in enumerate(range(lo, hi)):
    f = stored[i]
    out[j] = resize(decode_jpeg(f) if isinstance(f, (bytes, np.bytes_)) else f, size)
  return out


def num_rows(example, data_config):
  return rows_per_video(
      len(example["frames"] if "frames" in example else example["audio"]), data_config)


def trims(data_config):
  """Whether data_config's rows are cut from examples trimmed of their leading silence."""
  return (bool(data_config.get("trim_leading_silence", False)) and
          data_config.get("view", "frames") in TRIMMED_VIEWS)


# Stored face landmarks (media.landmarks.FACE_POINTS in crop pixels): read by the frames view
# only for self-blending (input/sbi.py), which shapes its mask from them.
LANDMARK_KEY = "face_landmarks"


def stored_keys(data_config, landmarks=False, targets=False):
  """The stored features a row of data_config's view is made from (trimming reads the audio
  and its times too; `landmarks`: the frames view's rows also carry the face landmarks;
  `targets`: the segments view's rows also carry their per-frame labels)."""
  keys = STORED_KEYS[data_config.view]
  if data_config.view == "segments" and targets:
    keys = keys + TARGET_KEYS
  if landmarks and data_config.view == "frames":
    keys = keys + (LANDMARK_KEY,)
  return tuple(dict.fromkeys(keys + TRIM_KEYS)) if trims(data_config) else keys


def slot_times(timestamps, window, hop_seconds=DEFAULT_HOP):
  """[T, W] time (s, video clock) of window slot j of frame t: t's time + (j - W // 2) hops
  (media.audio.windows)."""
  return (np.asarray(timestamps, np.float64)[:, None] +
          (np.arange(window) - window // 2)[None, :] * hop_seconds)


def _has_audio(example):
  return (all(k in example for k in ("audio", "audio_valid", "timestamps")) and
          bool(np.asarray(example.get("has_audio", True))))


def audio_onset(example, hop_seconds=DEFAULT_HOP):
  """Time (s, video clock) of the example's first mel frame that holds sound
  (media.audio.sound_mask: within SILENCE_DB of the clip's own level); None without audio."""
  if not _has_audio(example):
    return None
  sound = audio_lib.sound_mask(audio_lib.mel_power_db(example["audio"]), example["audio_valid"])
  if not sound.any():
    return None
  times = slot_times(example["timestamps"], sound.shape[1], hop_seconds)
  return float(times[sound].min())


def trim_leading_silence(example, hop_seconds=DEFAULT_HOP):
  """The stored example as if the video began at its first sampled frame with sound; same keys
  and shapes.

  The onset is the first mel frame that holds sound (audio_onset). The leading frames whose
  time (their audio window's centre) lies before it are dropped, and every per-frame feature
  (PER_FRAME: face crops, mouth, audio windows, flags, times) moves up by that many frames:
  both streams are cut at the same time and each frame keeps its own audio window, so lips and
  voice stay exactly aligned. The end is padded to the stored length: the last kept crops
  repeated, empty audio windows (log(LOG_FLOOR), audio_valid False: the audio branch skips
  them, the lip-sync branch reads them as zeros), face_found/mouth_found False, the times
  continuing the frame spacing. What silence is left lies in the first kept window's first half
  (under W // 2 hops, 0.1 s), as in any video whose voice starts within that time. A video whose
  sound starts before its first frame's time comes back as it is; so does one without audio or
  with no sound at all. With clips sampling the moved frames may run across the gap between two
  stored runs (a row then holds the end of one run and the start of the next)."""
  onset = audio_onset(example, hop_seconds)
  if onset is None:
    return example
  times = np.asarray(example["timestamps"], np.float64)
  after = times >= onset - hop_seconds / 2  # a frame at the onset (to half a hop) is kept
  k = int(np.argmax(after)) if after.any() else len(times) - 1  # leading frames to drop
  if k == 0:
    return example
  out = dict(example)
  step = float(np.median(np.diff(times))) if len(times) > 1 else hop_seconds
  for key in PER_FRAME:
    if key in out:
      out[key] = _moved(out[key], k, key, times[-1], step)
  return out


def _moved(x, k, key, last_time, step):
  """Per-frame feature x moved up by k frames, padded at the end (trim_leading_silence)."""
  if isinstance(x, list):  # JPEG bytes of the face crops, as the data source reads them
    return x[k:] + x[-1:] * k
  x = np.asarray(x)
  if key == "timestamps":
    pad = last_time + step * np.arange(1, k + 1)
  elif key == "audio":
    pad = np.full((k,) + x.shape[1:], np.log(audio_lib.LOG_FLOOR))
  elif x.dtype == np.bool_:
    pad = np.zeros((k,) + x.shape[1:], bool)
  else:
    pad = np.repeat(x[-1:], k, 0)
  return np.concatenate([x[k:], pad.astype(x.dtype)])


def leading_energy(example, seconds=0.5, hop_seconds=DEFAULT_HOP):
  """Mean power (dB, media.audio.mel_power_db) of the mel frames in the first `seconds` of the
  example's audio, from its first valid mel frame (each mel frame once, however many windows
  hold it); NaN without audio. Its negative is the silence-only detector: a 'model' that reads
  nothing but how quiet a video starts."""
  if not _has_audio(example):
    return float("nan")
  valid = np.asarray(example["audio_valid"], bool)
  if not valid.any():
    return float("nan")
  times = slot_times(example["timestamps"], valid.shape[1], hop_seconds)[valid]
  power = audio_lib.mel_power_db(example["audio"])[valid]
  slot = np.round((times - times.min()) / hop_seconds).astype(np.int64)
  slot, first = np.unique(slot, return_index=True)
  keep = slot < int(round(seconds / hop_seconds))
  return float(np.mean(power[first][keep]))


def to_model_inputs(example, data_config, row=None, hop_seconds=DEFAULT_HOP, landmarks=False):
  """The model inputs of one row (`row`: which frame or clip of the video) or, with row=None,
  of every row of the video stacked on a leading axis; a dict of numpy arrays. With
  data.trim_leading_silence (trims()) the rows are cut from the example trimmed of its leading
  silence; hop_seconds: the stored audio's mel hop (the builder's media config). `landmarks`
  (frames view): the row also gets "landmarks" [N, 2] float32, the stored face landmarks in
  the pixels of the resized image (NaN where the frame had none)."""
  check_view(data_config.view)
  if trims(data_config):
    example = trim_leading_silence(example, hop_seconds)
  return _cut(example, data_config, row, landmarks)


def _cut(example, data_config, row, landmarks=False):
  view, size = data_config.view, int(data_config.image_size)
  if row is None:
    rows = [_cut(example, data_config, r, landmarks) for r in range(num_rows(example, data_config))]
    return {k: np.stack([r[k] for r in rows]) for k in rows[0]} if rows else {}
  if view == "frames":
    f = example["frames"][row]
    image = decode_jpeg(f) if isinstance(f, (bytes, np.bytes_)) else np.asarray(f)
    out = {"image": _frames([image], 0, 1, size)[0]}
    if landmarks:  # continuous coordinates scale exactly with the resize
      out["landmarks"] = np.asarray(example[LANDMARK_KEY][row], np.float32) * np.float32(
          size / image.shape[1])
    return out
  if view == "segments":
    return _window(example, data_config, row, size)
  length = clip_len(data_config)
  lo, hi = row * length, (row + 1) * length
  out = {}
  for key in STORED_KEYS[view]:
    if key == "frames":
      out[key] = _frames(example["frames"], lo, hi, size)
    elif key in PER_VIDEO or view == "audio":
      out[key] = np.asarray(example[key])
    else:
      out[key] = np.asarray(example[key][lo:hi])
  return out


def _padded(x, length):
  """x [n, ...] -> [length, ...]: padding repeats nothing the model should read (zeros,
  False; audio the log floor of silence)."""
  if len(x) == length:
    return x
  pad = np.zeros((length - len(x),) + x.shape[1:], x.dtype)
  if x.dtype == np.float32:
    pad += np.float32(np.log(audio_lib.LOG_FLOOR))
  return np.concatenate([x, pad])


def _window(example, data_config, row, size):
  """Row `row` of the segments view: window `row` of the video's frames (padded past the end
  of a video shorter than one window)."""
  length, stride = window(data_config)
  n = len(example["frames"])
  start, valid = windows_lib.span(n, length, stride, row)
  out = {"frames": _padded(_frames(example["frames"], start, start + valid, size), length)}
  for key in STORED_KEYS["segments"][1:]:
    if key in PER_VIDEO:
      out[key] = np.asarray(example[key])
    else:
      out[key] = _padded(np.asarray(example[key][start:start + valid]), length)
  out["frame_valid"] = np.arange(length) < valid
  return out


def row_targets(example, data_config, row):
  """{'frame_labels': int32 [window, 3]} of a segments row: the stored per-frame labels
  (TARGET_KEYS) over the row's window, 0 on padding (-1 where the dataset withholds them)."""
  length, stride = window(data_config)
  missing = [k for k in TARGET_KEYS if k not in example]
  if missing:
    raise DataError(f"the segments view needs per-frame labels {missing} (a localization "
                    f"dataset: lavdf, av_deepfake1m, synthetic_av/partial)")
  start, valid = windows_lib.span(len(example[TARGET_KEYS[0]]), length, stride, row)
  labels = np.stack([np.asarray(example[k][start:start + valid]) for k in TARGET_KEYS], -1)
  return {"frame_labels": _padded(labels.astype(np.int32), length)}


def model_arg(inputs, view):
  """What the model is called with: frame models take the image array, video models the dict."""
  return inputs["image"] if view == "frames" else inputs
