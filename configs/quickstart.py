"""The README's main job: MesoNet-4 on the embedded synthetic audio-visual dataset.

python -m fakedetect_jax.main --config=configs/quickstart.py --workdir=runs/quickstart

A frame model cannot hear a fake voice or see a lip-sync mismatch, so the task is the spatially
blended videos against the real ones (real video, whatever the audio). The dataset is built on
first use (about 2 minutes); training and evaluation take a few minutes more on 2 CPU cores.
Arguments: steps, size, data_config (small | large).
"""
from fakedetect_jax import config_lib


def get_config(arg=None):
  a = config_lib.parse_arg(arg, steps=600, size=128, data_config="small", runlocal=False)
  c = config_lib.base_config()
  c.model.name = "meso4"
  c.data.dataset = "synthetic_av"
  c.data.config = a.data_config
  c.data.image_size = a.size
  c.data.label_key = "video_label"
  c.data.methods = ("real", "voice", "blend", "blend-voice")
  c.batch_size = 32
  c.total_steps = a.steps
  c.optimizer.learning_rate = 2e-3
  c.optimizer.warmup_steps = 20
  c.log_every = 25
  c.eval_every = 100
  c.checkpoint_every = 100
  return config_lib.runlocal(c) if a.runlocal else c
