"""Audio-only branch: a log-mel CNN for converted or synthesised voices.

python -m fakedetect_jax.main --config=configs/audio.py --workdir=runs/audio
Arguments: dataset, data_config, steps, batch, label (audio_label when the dataset has one).
"""
from fakedetect_jax import config_lib


def get_config(arg=None):
  a = config_lib.parse_arg(arg, dataset="synthetic_av", data_config="small", steps=300,
                           batch=16, label="audio_label")
  c = config_lib.base_config()
  c.model = config_lib.ml_collections.ConfigDict({"name": "audio_cnn"})
  c.data.dataset = a.dataset
  c.data.config = a.data_config
  c.data.view = "audio"
  c.data.label_key = a.label
  c.augment = config_lib.ml_collections.ConfigDict(dict(flip=False, brightness=0.0))
  c.batch_size = a.batch
  c.eval.batch_size = 16
  c.total_steps = a.steps
  c.optimizer.learning_rate = 1e-3
  c.optimizer.warmup_steps = 10
  c.log_every = 25
  c.eval_every = 100
  c.checkpoint_every = 100
  return c
