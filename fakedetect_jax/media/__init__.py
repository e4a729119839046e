"""Media: video file -> example arrays (decode, sample, faces, mouth, eyes, audio). Numpy only.

    from fakedetect_jax.media import MediaConfig, encode_video, example_features, write_video
    cfg = MediaConfig(num_frames=32)
    ex = encode_video("clip.mp4", cfg)        # dict of numpy arrays, shapes in example_spec(cfg)
    feats = example_features(cfg)             # the TFDS FeaturesDict that stores `ex`

Builders encode many files with `encode_many` (process pool, skips and counts failures).
Unreadable files raise MediaError subclasses; damaged ones give MediaWarning warnings.
No JAX here; mediapipe, librosa and TensorFlow are imported only when first needed.
"""
from fakedetect_jax.media.batch import BatchSummary, encode_many
from fakedetect_jax.media.config import MediaConfig
from fakedetect_jax.media.decode import Video, VideoInfo, probe, sample_indices
from fakedetect_jax.media.encoder import (Report, encode_video, encode_video_with_report,
                                          example_spec)
from fakedetect_jax.media.errors import (AudioError, EmptyFileError, MediaError, MediaWarning,
                                         MissingFileError, NoFaceError, NotAVideoError,
                                         NoVideoStreamError, TruncatedVideoError)
from fakedetect_jax.media.features import as_stored, example_features
from fakedetect_jax.media.write import write_video
