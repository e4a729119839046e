"""SRM (Luo et al. 2021): RGB and SRM-noise Xception streams with cross-modal attention,
DeepfakeBench's detector.

python -m fakedetect_jax.main --config=configs/srm.py:dataset=ffpp,data_config=c23 --workdir=runs/srm
python -m fakedetect_jax.main --config=configs/srm.py:pretrained=weights/srm_imagenet.npz ...
Arguments: dataset, data_config, size (256 as in DeepfakeBench; >= 32), steps, pretrained (an
.npz from `python -m fakedetect_jax.models convert srm imagenet OUT.npz`: Keras' ImageNet Xception
in both streams), sbi, robust, accel (see configs/xception.py). A released DeepfakeBench srm
checkpoint is imported with `python -m fakedetect_jax.models import-deepfakebench ...
--detector=srm` (models/deepfakebench; 256 px inputs); `--config.init_from=<run>` fine-tunes it.
DeepfakeBench's recipe: Adam, learning rate 2e-4, batch 32, no dropout (and an AM-softmax
loss; here the common objective).
"""
from fakedetect_jax import config_lib


def get_config(arg=None):
  a = config_lib.parse_arg(arg, size=256, **config_lib.ZOO_ARGS, runlocal=False)
  c = config_lib.zoo_config(a, "srm", dropout=0.0, learning_rate=2e-4)
  c = config_lib.apply_accel(c, a.accel)
  return config_lib.runlocal(c) if a.runlocal else c
