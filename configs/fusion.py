"""One branch of the fused detector (experiments/studies/synthetic_fusion.py trains every one and
fits their fusion): the branch's model, data and training length.

python -m fakedetect_jax.main --config=configs/fusion.py:branch=temporal --workdir=runs/temporal
python -m fakedetect_jax.main --config=configs/fusion.py:branch=audio,preset=proof --workdir=...
Arguments: branch (spatial: MesoNet-4 on frames; temporal: a temporal transformer on clips;
lipsync_sync: the lip-sync model's sync pre-training, then lipsync: its real/fake classifier,
started from the former's best checkpoint with --config.init_from; audio: log-mel CNN), preset
(full: small_clips, 16-frame clips, about 25 minutes on 2 cores for every branch; proof: the
small setting tests/test_synthetic_fusion.py asserts on, proof_clips with 8-frame clips and
short runs, about 5 minutes), then any of dataset, data_config (a builder config with
sampling='clips'), clip_len (lip-sync rows), temporal_clip_len, face_size (input pixels of the
spatial and temporal branches), scale (multiplies the preset's steps), steps (this run's, instead
of the preset's) to change the preset, and runlocal.
Each branch trains on the fakes it is meant to see plus every real video (synthetic_av's
methods): spatial blend, temporal flicker, lipsync the mouth that does not follow the voice,
audio the converted voice; the lip-sync pre-training on the videos whose lips follow their audio.
"""
import importlib.util
import pathlib

from fakedetect_jax import config_lib

# Training steps of each run (lipsync_sync: the sync pre-training before `lipsync`).
PRESETS = {
    "full": dict(
        data_config="small_clips",
        clip_len=16,
        face_size=64,
        steps=dict(spatial=300, temporal=300, lipsync_sync=200, lipsync=200, audio=200)),
    "proof": dict(
        data_config="proof_clips",
        clip_len=8,
        face_size=48,
        steps=dict(spatial=300, temporal=100, lipsync_sync=100, lipsync=75, audio=50)),
}
BRANCHES = ("spatial", "temporal", "lipsync_sync", "lipsync", "audio")
# The synthetic_av methods each branch trains on (its own fakes and the real videos).
TRAIN_METHODS = {
    "spatial": ("real", "voice", "blend", "blend-voice"),
    "temporal": ("real", "voice", "flicker", "flicker-voice"),
    "lipsync": ("real", "voice", "lipsync", "lipsync-voice")
}


def _config_file(name, arg):
  spec = importlib.util.spec_from_file_location(name + "_config",
                                                pathlib.Path(__file__).with_name(name + ".py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def get_config(arg=None):
  # The preset gives the defaults the other arguments then override.
  named = dict(item.split("=", 1) for item in (arg or "").split(",") if "=" in item)
  if named.get("preset", "full") not in PRESETS:
    raise config_lib.ConfigError(f"unknown fusion preset {named['preset']!r}; known: "
                                 f"{', '.join(PRESETS)}")
  p = PRESETS[named.get("preset", "full")]
  a = config_lib.parse_arg(
      arg,
      branch="",
      preset="full",
      dataset="synthetic_av",
      data_config=p["data_config"],
      clip_len=p["clip_len"],
      temporal_clip_len=p["clip_len"],
      face_size=p["face_size"],
      scale=1.0,
      steps=0,
      runlocal=False)
  if a.branch not in BRANCHES:
    raise config_lib.ConfigError(f"configs/fusion.py trains one branch: branch={a.branch!r}; "
                                 f"known: {', '.join(BRANCHES)}")
  steps = a.steps or max(10, int(p["steps"][a.branch] * a.scale))
  if a.branch == "spatial":
    c = config_lib.base_config()
    c.model.name = "meso4"
    c.data.config = a.data_config
    c.data.image_size = a.face_size
    c.data.label_key = "video_label"
    c.batch_size = 32
    c.optimizer.learning_rate, c.optimizer.warmup_steps = 2e-3, 20
  elif a.branch == "temporal":
    c = _config_file(
        "temporal", f"data_config={a.data_config},clip_len={a.temporal_clip_len},"
        f"size={a.face_size}")
  elif a.branch == "lipsync_sync":
    c = _config_file("lipsync", f"data_config={a.data_config},clip_len={a.clip_len},"
                     f"objective=sync")
  elif a.branch == "lipsync":
    c = _config_file("lipsync", f"data_config={a.data_config},clip_len={a.clip_len},"
                     f"label=video_label")
  else:
    c = _config_file("audio", f"data_config={a.data_config}")
  c.data.dataset = a.dataset
  c.data.trim_leading_silence = config_lib.trim_default(c.data.dataset, c.data.view)
  if a.branch in TRAIN_METHODS:
    c.data.train_methods = TRAIN_METHODS[a.branch]
  c.total_steps = -(-steps // 25) * 25
  c.log_every, c.eval_every, c.checkpoint_every = 25, 50, 50
  c.eval.batch_size = 16
  return config_lib.runlocal(c) if a.runlocal else c
