"""Temporal branch: a clip of consecutive face frames -> real/fake (flicker, unstable blends).

python -m fakedetect_jax.main --config=configs/temporal.py:model=temporal_transformer --workdir=runs/temporal
Arguments: dataset, data_config (a builder config with sampling='clips', e.g. small_clips),
model (resnext_lstm | resnext_lstm_small | temporal_transformer | conv3d), size, clip_len, steps,
batch. The label is the video's (video_label when the dataset has one: the branch cannot hear).
"""
from fakedetect_jax import config_lib


def get_config(arg=None):
  a = config_lib.parse_arg(
      arg,
      dataset="synthetic_av",
      data_config="small_clips",
      model="temporal_transformer",
      size=64,
      clip_len=16,
      steps=400,
      batch=16,
      label="video_label",
      runlocal=False)
  c = config_lib.branch_config(a, a.model, "clips")
  c.data.image_size = a.size
  return config_lib.runlocal(c) if a.runlocal else c
