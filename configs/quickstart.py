"""The README's main job: MesoNet-4 on the embedded synthetic audio-visual dataset.

python -m fakedetect_jax.main --config=configs/quickstart.py --workdir=runs/quickstart

A frame model cannot hear a fake voice or see a lip-sync mismatch, so the task is the spatially
blended videos against the real ones (real video, whatever the audio). The dataset is built on
first use (about 2 minutes); training and evaluation take a few minutes more on 2 CPU cores.
Arguments: steps, size, data_config (small | large), data (synthetic | real).

data=real: the same task on real faces and real speech (synthetic_av's `real` config, built from
the folder of `python -m fakedetect_jax.testing.real_media fetch`; data_config=real_tiny for a
smaller one): real video (real, voice) against the face swaps and blends, tested on every method,
so results.json's per_method rows are faceswap, reenact, blend, flicker, lipsync and their -voice
variants.
"""
from fakedetect_jax import config_lib


def get_config(arg=None):
  a = config_lib.parse_arg(
      arg, steps=600, size=128, data_config="small", runlocal=False, data="synthetic")
  c = config_lib.base_config()
  c.model.name = "meso4"
  c.data.dataset = "synthetic_av"
  c.data.config = a.data_config
  c.data.image_size = a.size
  c.data.label_key = "video_label"
  c.data.methods = ("real", "voice", "blend", "blend-voice")
  if a.data == "real":
    c.data.config = "real" if a.data_config == "small" else a.data_config
    c.data.methods = ()  # test on every method
    c.data.train_methods = ("real", "voice", "faceswap", "faceswap-voice", "blend", "blend-voice")
  elif a.data != "synthetic":
    raise config_lib.ConfigError(f"data={a.data!r}: expected synthetic or real")
  c.batch_size = 32
  c.total_steps = a.steps
  c.optimizer.learning_rate = 2e-3
  c.optimizer.warmup_steps = 20
  c.log_every = 25
  c.eval_every = 100
  c.checkpoint_every = 100
  return config_lib.runlocal(c) if a.runlocal else c
