"""Temporal forgery localization: which seconds of a video are fake, in the audio, the video or
both (LAV-DF, AV-Deepfake1M; the embedded synthetic_av/partial needs no download).

  python -m fakedetect_jax.main --config=configs/localization.py --workdir=runs/partial
  python -m fakedetect_jax.main --config=configs/localization.py:dataset=lavdf,data_config=dense \
      --workdir=runs/lavdf
  python -m fakedetect_jax.main --config=configs/localization.py:dataset=av_deepfake1m \
      --workdir=runs/av1m
  python -m fakedetect_jax.evaluate --workdir=runs/av1m --submission   # the challenge's files

The model ('localizer', models/localization.py) reads windows of `window` consecutive frames of
the dense media setting (the segments view: face and mouth crops, 4 mel slots a frame), starting
every `stride` frames (0: window // 2), and gives every frame a fake probability and the
distances to its segment's start and end; evaluation stitches the windows back, proposes
segments, applies Soft-NMS and scores them with the avdeepfake1m SDK (train/localize_eval.py):
results.json's test block has AP@..., AR@..., mean_AP, mean_AR and score (the challenge score)
by the dataset's protocol, per modify type under by_modify_type, and predictions/ holds
test_segments.json and test_metadata.json for rescoring.
Arguments: dataset, data_config, steps, batch, window, stride, size (face crop pixels), width
(model channels), lr, runlocal.
"""
from fakedetect_jax import config_lib

DEFAULT_CONFIG = {"synthetic_av": "partial", "lavdf": "dense", "av_deepfake1m": "dense"}


def get_config(arg=None):
  a = config_lib.parse_arg(
      arg,
      dataset="synthetic_av",
      data_config="",
      steps=1500,
      batch=16,
      window=64,
      stride=0,
      size=48,
      width=64,
      lr=1e-3,
      label="label",
      runlocal=False)
  a.data_config = a.data_config or DEFAULT_CONFIG.get(a.dataset, "dense")
  c = config_lib.branch_config(a, "localizer", "segments", warmup_steps=50, width=a.width)
  c.model.dropout = 0.1
  c.objective = "localize"
  c.data.image_size = a.size
  c.data.window, c.data.window_stride = a.window, a.stride
  # Time labels are the video's own: cutting its leading silence would move them.
  c.data.trim_leading_silence = False
  c.optimizer.learning_rate = a.lr
  c.augment.brightness = 0.0
  c.eval.select_metric = "score"  # the challenge score on validation (mean AP / 2 + mean AR / 2)
  c.eval.protocol = ""  # '' = lavdf for LAV-DF, av_deepfake1m otherwise (localize_eval)
  c.eval.batch_size = 16
  if a.runlocal:
    c = config_lib.runlocal(c)
    c.data.window, c.data.window_stride = min(a.window, 32), 0  # data: partial_tiny
  return c
