"""Detector models, looked up by name. Models know no TFDS: they take arrays, return logits.

Every model maps images [B, H, W, 3] (float, roughly in [-1, 1]) to one fake logit per image,
and takes `train` to switch dropout and batch-norm statistics.
"""
from fakedetect_jax.errors import ConfigError
import functools

from fakedetect_jax.models import audio, lipsync, temporal
from fakedetect_jax.models import (cross_vit, efficientnet, inception_resnet_v2, meso, resnext,
                                   vit, xception)

_REGISTRY = {
    "meso4": meso.Meso4,
    "mesoinception4": meso.MesoInception4,
    # The frame-level detectors of the public leaderboards (FF++, DFDC); see docs/pretrained.md.
    "xception": xception.Xception,
    **{f"efficientnet_{v}": efficientnet.efficientnet(v) for v in efficientnet.VARIANTS},
    "efficientnet_b4_att": efficientnet.efficientnet("b4", attention=True),
    "resnext50_32x4d": resnext.ResNeXt,
    "inception_resnet_v2": inception_resnet_v2.InceptionResNetV2,
    "vit_s16": vit.vit("s16"),
    "vit_b16": vit.vit("b16"),
    "cross_efficient_vit": cross_vit.CrossEfficientViT,
    "conv_vit": cross_vit.ConvViT,
    # Video-level branches (input: a dict from input/views.py, not an image).
    "resnext_lstm": temporal.ResNeXtLSTM,
    # The same architecture at a width that trains in seconds (tests, synthetic data).
    "resnext_lstm_small": functools.partial(temporal.ResNeXtLSTM, hidden=32, layers=(1, 1, 1, 1),
                                            groups=2, base_width=32, stem=8),
    "temporal_transformer": temporal.TemporalTransformer,
    "conv3d": temporal.Conv3D,
    "lipsync": lipsync.LipSync,
    "audio_cnn": audio.AudioCNN,
}

# The input size each model was designed or is usually trained at (summary, benchmark, configs).
# B4 at 224 px is what the FF++ / DFDC detectors (Bonettini et al.) train at, not Keras' 380.
DEFAULT_SIZES = {"meso4": 256, "mesoinception4": 256, "xception": 299, "inception_resnet_v2": 299,
                 **{f"efficientnet_{v}": efficientnet.VARIANTS[v][2] for v in efficientnet.VARIANTS},
                 "efficientnet_b4": 224, "efficientnet_b4_att": 224}


# The data view (input/views.py) of models that take a dict, not an image; others: 'frames'.
INPUT_VIEWS = {"resnext_lstm": "clips", "resnext_lstm_small": "clips",
               "temporal_transformer": "clips", "conv3d": "clips", "lipsync": "av",
               "audio_cnn": "audio"}


def input_view(name):
  return INPUT_VIEWS.get(name, "frames")


def default_size(name):
  return DEFAULT_SIZES.get(name, 224)


def names():
  return sorted(_REGISTRY)


def get_model(name, **kwargs):
  """The model class registered as `name`, built with kwargs (e.g. dtype, dropout)."""
  if name not in _REGISTRY:
    raise ConfigError(f"unknown model {name!r}; registered models: {', '.join(names())}")
  return _REGISTRY[name](**kwargs)
