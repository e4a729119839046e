"""EfficientNet B0-B7 (Tan and Le 2019); B4 is the FF++/DFDC leaderboard backbone, and B4Att
adds Bonettini et al.'s (2020) attention map after block 10.

python -m fakedetect_jax.main --config=configs/efficientnet.py:variant=b4,dataset=ffpp --workdir=runs/b4
python -m fakedetect_jax.main --config=configs/efficientnet.py:variant=b4_att,pretrained=weights/efficientnet_b4_imagenet.npz ...
Arguments: variant (b0..b7 | b4_att; default b4), dataset, data_config, size (224 as in
Bonettini et al.; any multiple of 32), steps, pretrained (.npz from `python -m
fakedetect_jax.models convert`; B4's file serves B4Att too, its attention conv starts fresh),
sbi, robust, accel (see configs/xception.py).
Bonettini et al.: Adam at 1e-5 from ImageNet weights, batch 32; from scratch 1e-3 here.
"""
from fakedetect_jax import config_lib
from fakedetect_jax.errors import ConfigError
from fakedetect_jax.models import efficientnet


def get_config(arg=None):
  a = config_lib.parse_arg(arg, variant="b4", size=224, **config_lib.ZOO_ARGS, runlocal=False)
  variant = a.variant.replace("_att", "")
  if variant not in efficientnet.VARIANTS or a.variant.endswith("_att") and variant != "b4":
    raise ConfigError(f"unknown EfficientNet variant {a.variant!r}; known: "
                      f"{', '.join(efficientnet.VARIANTS)}, b4_att")
  c = config_lib.zoo_config(
      a,
      f"efficientnet_{a.variant}",
      dropout=efficientnet.VARIANTS[variant][3],  # Keras' top dropout
      learning_rate=1e-5 if a.pretrained else 1e-3)
  c.model.drop_connect = 0.2
  c = config_lib.apply_accel(c, a.accel)
  return config_lib.runlocal(c) if a.runlocal else c
