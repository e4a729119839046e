"""Lip-sync branch: mouth crops and log-mel audio, pre-trained for synchrony, then a classifier.

  # 1. sync pre-training on videos whose lips follow their audio (shifted audio = negatives)
  python -m fakedetect_jax.main --config=configs/lipsync.py:objective=sync --workdir=runs/sync
  # 2. fine-tune as a real/fake classifier from it
  python -m fakedetect_jax.main --config=configs/lipsync.py --workdir=runs/lipsync \
      --config.init_from=runs/sync
Arguments: dataset, data_config (sampling='clips' recommended), objective (sync | classify),
clip_len, steps, batch, label, max_offset (frames).
"""
from fakedetect_jax import config_lib

# Videos whose mouth follows the soundtrack's timing (synthetic_av: all but the lipsync fakes;
# the converted voice keeps the syllable timing). FakeAVCeleb users pass 'real' only.
IN_SYNC = ("real", "voice", "blend", "flicker", "blend-voice", "flicker-voice")


def get_config(arg=None):
  a = config_lib.parse_arg(
      arg,
      dataset="synthetic_av",
      data_config="small_clips",
      objective="classify",
      clip_len=16,
      steps=400,
      batch=16,
      label="label",
      max_offset=3,
      sync_methods=":".join(IN_SYNC),
      runlocal=False)
  c = config_lib.branch_config(a, "lipsync", "av", max_offset=a.max_offset)
  c.objective = a.objective
  c.data.image_size = 32  # the face frames ride along for fusion; the model reads mouths
  if a.objective == "sync":
    c.data.train_methods = tuple(a.sync_methods.split(":"))
    # Picked on every validation video: how well its out-of-sync score tells the lip-sync
    # fakes from the in-sync videos (on in-sync videos alone that score has nothing to rank).
    c.data.val_methods = ()
    c.data.balance_classes = False
  c.augment.brightness = 0.0
  return config_lib.runlocal(c) if a.runlocal else c
