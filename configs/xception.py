"""Xception (Chollet 2017): the FaceForensics++ baseline detector (Rossler et al. 2019).

python -m fakedetect_jax.main --config=configs/xception.py:dataset=ffpp,data_config=c23 --workdir=runs/xception
python -m fakedetect_jax.main --config=configs/xception.py:pretrained=weights/xception_imagenet.npz,sbi=0.5 ...
Arguments: dataset, data_config, size (299 as in FF++; >= 32), steps, pretrained (an .npz from
`python -m fakedetect_jax.models convert`, docs/pretrained.md; '' = from scratch), sbi (the
share of real frames turned into self-blended fakes), robust (probability of each robustness
distortion: JPEG, blur, noise, colour, down-up scaling), accel (cpu | gpu1 | gpu8 | tpu8: batch
32 per device, bfloat16, learning rate scaled; docs/performance.md).
FF++'s recipe: Adam, learning rate 2e-4, batch 32, dropout 0.5 before the classifier.
"""
from fakedetect_jax import config_lib


def get_config(arg=None):
  a = config_lib.parse_arg(arg, size=299, **config_lib.ZOO_ARGS, runlocal=False)
  c = config_lib.zoo_config(a, "xception", dropout=0.5, learning_rate=2e-4)
  c = config_lib.apply_accel(c, a.accel)
  return config_lib.runlocal(c) if a.runlocal else c
