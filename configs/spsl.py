"""SPSL (Liu et al. 2021): Xception on RGB plus the phase-only image, DeepfakeBench's detector.

python -m fakedetect_jax.main --config=configs/spsl.py:dataset=ffpp,data_config=c23 --workdir=runs/spsl
python -m fakedetect_jax.main --config=configs/spsl.py:runlocal=true --workdir=runs/spsl_local
Arguments: dataset, data_config, size (256 as in DeepfakeBench; >= 32), steps, pretrained (an
.npz of this model's variables; ImageNet Xception weights do not fit its 4-channel first conv),
sbi, robust, accel (see configs/xception.py). A released DeepfakeBench spsl checkpoint is
imported with `python -m fakedetect_jax.models import-deepfakebench ... --detector=spsl`
(models/deepfakebench); `--config.init_from=<that run>` fine-tunes it.
DeepfakeBench's recipe: Adam, learning rate 2e-4, batch 32, no dropout.
"""
from fakedetect_jax import config_lib


def get_config(arg=None):
  a = config_lib.parse_arg(arg, size=256, **config_lib.ZOO_ARGS, runlocal=False)
  c = config_lib.zoo_config(a, "spsl", dropout=0.0, learning_rate=2e-4)
  c = config_lib.apply_accel(c, a.accel)
  return config_lib.runlocal(c) if a.runlocal else c
