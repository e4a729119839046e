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

`to_model_inputs` is the one function that does this, for training, evaluation, predict and
serve alike: the one resize (face crops to data.image_size) lives here, and the one
normalisation (uint8 -> [-1, 1] on the device) in train/step.py. Frames may arrive still
JPEG-encoded (a list of bytes, as the data source reads them): only the frames a row needs are
decoded, with the decoder TFDS itself uses for Image features (OpenCV).
"""
import cv2
import numpy as np

from fakedetect_jax.errors import DataError
from fakedetect_jax.media import features

VIEWS = ("frames", "clips", "av", "audio")
# Stored features each view reads (beyond the labels).
STORED_KEYS = {
    "frames": ("frames",),
    "clips": ("frames", "face_found"),
    "av":
        ("frames", "mouth", "audio", "audio_valid", "has_audio", "face_found", "eye_aspect_ratio"),
    "audio": ("audio", "audio_valid", "has_audio")
}
# Stored features that are not per frame: repeated for every row of the video.
PER_VIDEO = ("has_audio",)


def check_view(view):
  if view not in VIEWS:
    raise DataError(f"unknown data.view {view!r}; known: {', '.join(VIEWS)}")


def clip_len(data_config):
  return int(data_config.clip_len) if data_config.view in ("clips", "av") else 0


def rows_per_video(num_frames, data_config):
  """How many rows a video of num_frames stored frames gives in data_config's view."""
  view = data_config.view
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


def to_model_inputs(example, data_config, row=None):
  """The model inputs of one row (`row`: which frame or clip of the video) or, with row=None,
  of every row of the video stacked on a leading axis; a dict of numpy arrays."""
  view, size = data_config.view, int(data_config.image_size)
  check_view(view)
  if row is None:
    rows = [to_model_inputs(example, data_config, r) for r in range(num_rows(example, data_config))]
    return {k: np.stack([r[k] for r in rows]) for k in rows[0]} if rows else {}
  if view == "frames":
    return {"image": _frames(example["frames"], row, row + 1, size)[0]}
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


def model_arg(inputs, view):
  """What the model is called with: frame models take the image array, video models the dict."""
  return inputs["image"] if view == "frames" else inputs
