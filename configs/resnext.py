"""ResNeXt-50 32x4d (Xie et al. 2017), a DFDC-winning-team backbone, timm's layout.

python -m fakedetect_jax.main --config=configs/resnext.py:dataset=ffpp --workdir=runs/resnext
python -m fakedetect_jax.main --config=configs/resnext.py:pretrained=weights/resnext50_32x4d.npz ...
Arguments: dataset, data_config, size (224; a multiple of 32), steps, pretrained (.npz from
`python -m fakedetect_jax.models convert resnext50_32x4d model.safetensors ...`, or the timm
.safetensors itself), sbi, robust (see configs/xception.py).
"""
from fakedetect_jax import config_lib
from fakedetect_jax.input import augment


def get_config(arg=None):
  a = config_lib.parse_arg(arg, dataset="synthetic_av", data_config="small", size=224,
                           steps=20000, pretrained="", sbi=0.0, robust=0.0)
  c = config_lib.base_config()
  c.model.name = "resnext50_32x4d"
  c.model.dropout = 0.5
  c.data.dataset, c.data.config, c.data.image_size = a.dataset, a.data_config, a.size
  c.total_steps = a.steps
  c.batch_size = 32
  c.optimizer.learning_rate = 1e-4 if a.pretrained else 1e-3
  c.optimizer.warmup_steps = 500
  c.pretrained = a.pretrained
  c.augment.update(augment.config_fields(sbi=a.sbi, **dict.fromkeys(augment.LEVELS, a.robust)))
  return c
