"""Temporal branch: a clip of consecutive face frames -> real/fake (flicker, unstable blends).

python -m fakedetect_jax.main --config=configs/temporal.py:model=temporal_transformer --workdir=runs/temporal
Arguments: dataset, data_config (a builder config with sampling='clips', e.g. small_clips),
model (resnext_lstm | resnext_lstm_small | temporal_transformer | conv3d), size, clip_len, steps,
batch. The label is the video's (video_label when the dataset has one: the branch cannot hear).
"""
from fakedetect_jax import config_lib


def get_config(arg=None):
  a = config_lib.parse_arg(arg, dataset="synthetic_av", data_config="small_clips",
                           model="temporal_transformer", size=64, clip_len=16, steps=400,
                           batch=16, label="video_label")
  c = config_lib.base_config()
  c.model = config_lib.ml_collections.ConfigDict({"name": a.model})
  c.data.dataset = a.dataset
  c.data.config = a.data_config
  c.data.view = "clips"
  c.data.clip_len = a.clip_len
  c.data.image_size = a.size
  c.data.label_key = a.label
  c.batch_size = a.batch
  c.eval.batch_size = 16
  c.total_steps = a.steps
  c.optimizer.learning_rate = 1e-3
  c.optimizer.warmup_steps = 20
  c.log_every = 25
  c.eval_every = 100
  c.checkpoint_every = 100
  return c
