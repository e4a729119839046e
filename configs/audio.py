"""Audio-only branch: a log-mel CNN for converted or synthesised voices.

python -m fakedetect_jax.main --config=configs/audio.py --workdir=runs/audio
Arguments: dataset, data_config, steps, batch, label (audio_label when the dataset has one).
"""
from fakedetect_jax import config_lib


def get_config(arg=None):
  a = config_lib.parse_arg(
      arg,
      dataset="synthetic_av",
      data_config="small",
      steps=300,
      batch=16,
      label="audio_label",
      runlocal=False)
  c = config_lib.branch_config(a, "audio_cnn", "audio", warmup_steps=10)
  c.augment = config_lib.ml_collections.ConfigDict(dict(flip=False, brightness=0.0))
  return config_lib.runlocal(c) if a.runlocal else c
