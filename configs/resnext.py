"""ResNeXt-50 32x4d (Xie et al. 2017), a DFDC-winning-team backbone, timm's layout.

python -m fakedetect_jax.main --config=configs/resnext.py:dataset=ffpp --workdir=runs/resnext
python -m fakedetect_jax.main --config=configs/resnext.py:pretrained=weights/resnext50_32x4d.npz ...
Arguments: dataset, data_config, size (224; a multiple of 32), steps, pretrained (.npz from
`python -m fakedetect_jax.models convert resnext50_32x4d model.safetensors ...`, or the timm
.safetensors itself), sbi, robust, accel (see configs/xception.py).
"""
from fakedetect_jax import config_lib


def get_config(arg=None):
  a = config_lib.parse_arg(arg, size=224, **config_lib.ZOO_ARGS, runlocal=False)
  c = config_lib.zoo_config(
      a, "resnext50_32x4d", dropout=0.5, learning_rate=1e-4 if a.pretrained else 1e-3)
  c = config_lib.apply_accel(c, a.accel)
  return config_lib.runlocal(c) if a.runlocal else c
