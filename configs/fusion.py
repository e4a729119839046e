"""The fused detector experiment (experiments/synthetic_fusion.py): branches, their training
lengths and the fusion rules.

python experiments/synthetic_fusion.py --workdir=runs/fusion --config=data_config=small_clips
python experiments/synthetic_fusion.py --workdir=runs/proof --config=preset=proof
Arguments: preset (full: small_clips, 16-frame clips, about 25 minutes on 2 cores; proof: the
small setting tests/test_synthetic_fusion.py asserts on, proof_clips with 8-frame clips and short
runs, about 5 minutes), then any of data_config (a builder config with sampling='clips'),
clip_len (lip-sync rows), temporal_clip_len, face_size, scale (multiplies every run's steps), branches
(':'-separated) to change the preset.
"""
import ml_collections

from fakedetect_jax import config_lib

# Training steps of each run (lipsync_sync: the sync pre-training before `lipsync`).
PRESETS = {
    "full": dict(data_config="small_clips", clip_len=16, face_size=64, steps=dict(
        spatial=300, temporal=300, lipsync_sync=200, lipsync=200, audio=200)),
    "proof": dict(data_config="proof_clips", clip_len=8, face_size=48, steps=dict(
        spatial=300, temporal=100, lipsync_sync=100, lipsync=75, audio=50)),
}


def get_config(arg=None):
  # The preset gives the defaults the other arguments then override.
  named = dict(item.split("=", 1) for item in (arg or "").split(",") if "=" in item)
  if named.get("preset", "full") not in PRESETS:
    raise config_lib.ConfigError(f"unknown fusion preset {named['preset']!r}; known: "
                                 f"{', '.join(PRESETS)}")
  p = PRESETS[named.get("preset", "full")]
  a = config_lib.parse_arg(arg, preset="full", data_config=p["data_config"],
                           clip_len=p["clip_len"], temporal_clip_len=p["clip_len"],
                           face_size=p["face_size"], scale=1.0,
                           branches="spatial:temporal:lipsync:audio")
  c = ml_collections.ConfigDict()
  c.data_config = a.data_config
  c.clip_len = a.clip_len
  c.temporal_clip_len = a.temporal_clip_len
  c.face_size = a.face_size       # input pixels of the spatial and temporal branches
  c.branches = tuple(a.branches.split(":"))
  c.steps = {k: max(10, int(v * a.scale)) for k, v in p["steps"].items()}
  c.fusion_methods = ("mean", "max", "logistic", "mlp")
  c.saved_fusion = "logistic"   # the rule stored in the fused detector checkpoint
  return c
