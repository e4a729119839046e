"""Inception-ResNet-v2 (Szegedy et al. 2017), Keras Applications' layout.

python -m fakedetect_jax.main --config=configs/inception_resnet_v2.py:dataset=ffpp --workdir=runs/irv2
Arguments: dataset, data_config, size (299; at least 75), steps, pretrained (.npz from
`python -m fakedetect_jax.models convert inception_resnet_v2 imagenet ...`), sbi, robust
(see configs/xception.py).
"""
from fakedetect_jax import config_lib
from fakedetect_jax.input import augment


def get_config(arg=None):
  a = config_lib.parse_arg(arg, dataset="synthetic_av", data_config="small", size=299,
                           steps=20000, pretrained="", sbi=0.0, robust=0.0)
  c = config_lib.base_config()
  c.model.name = "inception_resnet_v2"
  c.model.dropout = 0.5
  c.data.dataset, c.data.config, c.data.image_size = a.dataset, a.data_config, a.size
  c.total_steps = a.steps
  c.batch_size = 32
  c.optimizer.learning_rate = 2e-4
  c.optimizer.warmup_steps = 500
  c.pretrained = a.pretrained
  c.augment.update(augment.config_fields(sbi=a.sbi, **dict.fromkeys(augment.LEVELS, a.robust)))
  return c
