"""The TFDS FeaturesDict that stores exactly what `encode_video` returns.

tensorflow_datasets is imported inside the function: media stays importable (and fast to
import) without TensorFlow. Face crops are stored as an encoded image sequence (JPEG quality
95 by default, about 20x smaller than raw); mouth crops, audio and face landmarks as
zlib-compressed tensors, so the decoded example has exactly the encoder's shapes and dtypes.
With dense sampling (MediaConfig.dense()) the time dimension of every per-frame feature is None:
each example stores its own frame count.
"""
from fakedetect_jax.media.config import MediaConfig
from fakedetect_jax.media.encoder import example_spec


def example_features(cfg: MediaConfig = MediaConfig()):
  import tensorflow_datasets as tfds  # lazy: pulls in TensorFlow

  spec = example_spec(cfg)
  feats = {}
  for key, (shape, dtype) in spec.items():
    if key == "frames":
      feats[key] = tfds.features.Video(shape=shape, encoding_format=cfg.frames_encoding)
    elif key in ("mouth", "audio", "face_landmarks"):
      feats[key] = tfds.features.Tensor(
          shape=shape, dtype=dtype, encoding=tfds.features.Encoding.ZLIB)
    else:
      feats[key] = tfds.features.Tensor(shape=shape, dtype=dtype)
  return tfds.features.FeaturesDict(feats)


def decode_jpeg(data):
  """One stored (JPEG or PNG) face crop -> uint8 [H, W, 3] RGB, with the decoder TFDS itself
    uses for Image features read by random access (OpenCV's libjpeg-turbo, accurate DCT). The
    one decoder of stored crops: training, evaluation and predict all read them through it."""
  import cv2
  import numpy as np

  image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
  if image is None:
    raise ValueError("a stored face crop is not a decodable JPEG/PNG image")
  return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def as_stored(frames, cfg: MediaConfig = MediaConfig()):
  """Face crops as a TFDS build stores them and training reads them back (JPEG round trip
    when cfg.frames_encoding is jpeg): a detector scoring a fresh video should see what its
    training examples looked like, compression included."""
  if cfg.frames_encoding != "jpeg" or len(frames) == 0:
    return frames
  import numpy as np
  import tensorflow_datasets as tfds  # lazy: pulls in TensorFlow

  # The builder's encoder (TensorFlow's, through the Image feature), training's decoder.
  feature = tfds.features.Image(shape=tuple(frames.shape[1:]), encoding_format="jpeg")
  return np.stack([decode_jpeg(feature.encode_example(f)) for f in np.asarray(frames)])
