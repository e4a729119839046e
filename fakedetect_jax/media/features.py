"""The TFDS FeaturesDict that stores exactly what `encode_video` returns.

tensorflow_datasets is imported inside the function: media stays importable (and fast to
import) without TensorFlow. Face crops are stored as an encoded image sequence (JPEG quality
95 by default, about 20x smaller than raw); mouth crops and audio as zlib-compressed tensors,
so the decoded example has exactly the encoder's shapes and dtypes.
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
        elif key in ("mouth", "audio"):
            feats[key] = tfds.features.Tensor(shape=shape, dtype=dtype,
                                              encoding=tfds.features.Encoding.ZLIB)
        else:
            feats[key] = tfds.features.Tensor(shape=shape, dtype=dtype)
    return tfds.features.FeaturesDict(feats)
