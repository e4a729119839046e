"""Inception-ResNet-v2 (Szegedy et al. 2017), Keras Applications' layout.

python -m fakedetect_jax.main --config=configs/inception_resnet_v2.py:dataset=ffpp --workdir=runs/irv2
Arguments: dataset, data_config, size (299; at least 75), steps, pretrained (.npz from
`python -m fakedetect_jax.models convert inception_resnet_v2 imagenet ...`), sbi, robust, accel
(see configs/xception.py).
"""
from fakedetect_jax import config_lib


def get_config(arg=None):
  a = config_lib.parse_arg(arg, size=299, **config_lib.ZOO_ARGS, runlocal=False)
  c = config_lib.zoo_config(a, "inception_resnet_v2", dropout=0.5, learning_rate=2e-4)
  c = config_lib.apply_accel(c, a.accel)
  return config_lib.runlocal(c) if a.runlocal else c
