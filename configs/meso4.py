"""MesoNet-4 (Afchar et al. 2018) frame detector.

python -m fakedetect_jax.main --config=configs/meso4.py:dataset=synthetic_av,size=256 --workdir=runs/meso4
Arguments: dataset (a builder in datasets/), data_config (its TFDS config), size (input pixels,
a multiple of 32), model (meso4 | mesoinception4), steps, accel (cpu | gpu1 | gpu8 | tpu8: batch
32 per device, bfloat16, learning rate scaled; docs/performance.md).
"""
from fakedetect_jax import config_lib


def get_config(arg=None):
  a = config_lib.parse_arg(
      arg,
      dataset="synthetic_av",
      data_config="small",
      size=256,
      model="meso4",
      steps=2000,
      accel="",
      runlocal=False)
  c = config_lib.base_config()
  c.model.name = a.model
  c.data.dataset = a.dataset
  c.data.config = a.data_config
  c.data.image_size = a.size
  c.data.trim_leading_silence = config_lib.trim_default(a.dataset, c.data.view)
  c.total_steps = a.steps
  c.batch_size = 32
  c.optimizer.learning_rate = 1e-3
  c = config_lib.apply_accel(c, a.accel)
  return config_lib.runlocal(c) if a.runlocal else c
