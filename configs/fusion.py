"""The fused detector experiment (experiments/synthetic_fusion.py): branches, their training
lengths and the fusion rules.

python experiments/synthetic_fusion.py --workdir=runs/fusion --config=data_config=small_clips
Arguments: data_config (a builder config with sampling='clips'), clip_len (lip-sync rows),
temporal_clip_len, scale (multiplies every run's steps), branches (':'-separated).
"""
import ml_collections

from fakedetect_jax import config_lib

# Default training steps of each run (lipsync_sync: the sync pre-training before `lipsync`).
STEPS = {"spatial": 300, "temporal": 300, "lipsync_sync": 200, "lipsync": 200, "audio": 200}


def get_config(arg=None):
  a = config_lib.parse_arg(arg, data_config="small_clips", clip_len=16, temporal_clip_len=16,
                           scale=1.0, branches="spatial:temporal:lipsync:audio")
  c = ml_collections.ConfigDict()
  c.data_config = a.data_config
  c.clip_len = a.clip_len
  c.temporal_clip_len = a.temporal_clip_len
  c.branches = tuple(a.branches.split(":"))
  c.steps = {k: max(10, int(v * a.scale)) for k, v in STEPS.items()}
  c.fusion_methods = ("mean", "max", "logistic", "mlp")
  c.saved_fusion = "logistic"   # the rule stored in the fused detector checkpoint
  return c
