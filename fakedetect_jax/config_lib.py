"""Shared pieces of the config files in configs/: the defaults every run starts from."""
import hashlib
import json

import ml_collections
from ml_collections import config_dict

from fakedetect_jax.errors import ConfigError
from fakedetect_jax.input import augment


def parse_arg(arg, **defaults):
  """'dataset=ffpp,size=128' -> ConfigDict with the defaults' keys, typed like the defaults."""
  out = ml_collections.ConfigDict(defaults)
  for item in filter(None, (arg or "").split(",")):
    if "=" not in item:
      raise ConfigError(
          f"config argument {item!r} is not key=value (known keys: {sorted(defaults)})")
    key, value = item.split("=", 1)
    if key not in defaults:
      raise ConfigError(f"unknown config argument {key!r}; known: {sorted(defaults)}")
    kind = type(defaults[key])
    out[key] = (value.lower() in ("1", "true", "yes")) if kind is bool else kind(value)
  return out


def apply_accel(c, accel):
  """Scales a config for an accelerator set: '' or 'cpu' leave it; 'gpuN' / 'tpuN' (N devices,
  default 1) keep the config's batch per device, so the global batch and the learning rate
  grow N-fold (the linear scaling rule, with at least 500 warmup steps), compute in bfloat16
  (tests/test_performance.py: the loss curve stays near float32's) and read 4 batches ahead.
  docs/performance.md has the expected step times and the input rate each needs."""
  import re
  m = re.fullmatch(r"(cpu|gpu|tpu)(\d*)", (accel or "cpu").lower())
  if not m:
    raise ConfigError(f"accel={accel!r}: expected cpu, gpuN or tpuN (e.g. gpu8)")
  kind, n = m.group(1), int(m.group(2) or 1)
  if kind == "cpu":
    return c
  c.batch_size *= n
  c.eval.batch_size *= n
  c.optimizer.learning_rate *= n
  c.optimizer.warmup_steps = max(c.optimizer.warmup_steps, 500)
  c.compute_dtype = "bfloat16"
  c.data.prefetch = max(c.data.prefetch, 4)
  return c


# runlocal: the quick local check of any config (`configs/meso4.py:runlocal=true`; `python -m
# fakedetect_jax.studies run ... --tiny` passes it to every run). Batches divide by the 8
# simulated devices of the tests.
RUNLOCAL = {
    "total_steps": 2,
    "batch_size": 8,
    "eval.batch_size": 8,
    "log_every": 2,
    "eval_every": 2,
    "checkpoint_every": 2,
    "optimizer.warmup_steps": 0
}
RUNLOCAL_SIZE = 32  # image size; a model whose spec's min_size is above it: min_size
# rounded up to a multiple of 32 (Inception-ResNet-v2: 96)
RUNLOCAL_CLIP_LEN = 4  # frames of a clip: every frame of the tiny media (4 a video)


def runlocal_data_config(dataset, data_config):
  """The builder config a runlocal job reads instead of `data_config`: synthetic_av's `tiny`
  (built in seconds; `partial_tiny` for its partial-fake configs, whose per-frame labels the
  localization runs need); a `*_clips` config (runs of consecutive frames) becomes its evenly sampled
  sibling (fakeavceleb v1.2_clips -> v1.2), which the tiny media of the studies' --tiny
  (FAKEDETECT_MEDIA, 4 frames a video) keeps small; any other stays."""
  if dataset == "synthetic_av":
    return "partial_tiny" if (data_config or "").startswith("partial") else "tiny"
  if data_config and data_config.endswith("_clips"):
    return data_config[:-len("_clips")]
  return data_config


def runlocal(c):
  """The config `c` shrunk for a quick local check (every config file's runlocal=true, applied
  last): RUNLOCAL's steps, batches and frequent logging, evaluation and checkpoints, a tiny
  image size (at least the model's min_size), clips of at most RUNLOCAL_CLIP_LEN frames and
  the runlocal data config (runlocal_data_config). Everything else, model included, stays."""
  from fakedetect_jax import models
  for dotted, value in RUNLOCAL.items():
    *parents, leaf = dotted.split(".")
    node = c
    for p in parents:
      node = node[p]
    node[leaf] = value
  spec = models.REGISTRY.get(c.model.name)
  least = spec.min_size if spec is not None else 1
  c.data.image_size = RUNLOCAL_SIZE if least <= RUNLOCAL_SIZE else -(-least // 32) * 32
  if c.data.view in ("clips", "av"):
    c.data.clip_len = min(c.data.clip_len, RUNLOCAL_CLIP_LEN)
  c.data.config = runlocal_data_config(c.data.dataset, c.data.config)
  return c


def base_config():
  """Every field the train loop reads, with defaults; config files override what they need."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.model = ml_collections.ConfigDict(dict(name="meso4", dropout=0.5))

  c.data = ml_collections.ConfigDict()
  c.data.dataset = "synthetic_av"  # a TFDS builder in datasets/, or 'npz'
  c.data.config = "small"  # the builder config (e.g. c23 for ffpp)
  c.data.data_dir = config_dict.placeholder(str)  # TFDS data_dir; None = TFDS default
  c.data.path = config_dict.placeholder(str)  # for dataset='npz'
  c.data.image_size = 256
  c.data.label_key = "label"
  c.data.methods = ()  # keep only these methods ('real' = real videos); () = all
  c.data.train_split = "train"
  c.data.val_split = "validation"
  c.data.test_split = "test"
  c.data.balance_classes = True  # sample real and fake frames equally often in training
  c.data.prefetch = 2  # global batches made ready on the devices ahead
  c.data.workers = config_dict.placeholder(int)  # Grain reader processes; None = every core
  c.data.view = "frames"  # frames | clips | av | audio | segments (see input/views.py)
  c.data.clip_len = 8  # frames per row of the clips / av views
  # Training and validation: keep these methods ('real' = real videos); () = all. Test keeps
  # every method (input/sources.run_methods).
  c.data.train_methods = ()
  # Validation instead of train_methods when set; () = every method; None = train_methods.
  c.data.val_methods = config_dict.placeholder(tuple)
  # Cut each video's leading silence (audio and frames alike) before the clips, av and audio
  # views cut rows (input/views.trim_leading_silence); the frames view is never trimmed.
  # Config files turn it on with trim_default.
  c.data.trim_leading_silence = False

  c.objective = "classify"  # classify | sync (lip-sync pre-training)
  c.init_from = config_dict.placeholder(str)  # workdir whose best checkpoint starts training

  c.batch_size = 32  # global, over every device and host
  c.grad_accum_steps = 1
  c.total_steps = 1000
  c.compute_dtype = "float32"  # or bfloat16 (parameters stay float32)
  # flip and brightness run on the devices; the rest on the host (input/augment.py: self-blended
  # pseudo-fakes and robustness distortions, each a probability per frame; 0 = off).
  c.augment = ml_collections.ConfigDict(dict(flip=True, brightness=0.1, **augment.DEFAULTS))
  c.pretrained = ""  # ImageNet weights (.npz, docs/pretrained.md); '' = none

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.name = "adam"  # adam | adamw | sgd
  c.optimizer.learning_rate = 1e-3
  c.optimizer.schedule = "cosine"  # cosine | constant
  c.optimizer.warmup_steps = 0
  c.optimizer.weight_decay = 0.0
  c.optimizer.momentum = 0.9  # sgd only
  c.optimizer.grad_clip_norm = 0.0  # 0 = off

  c.log_every = 50
  c.eval_every = 250  # validation + best-checkpoint selection
  c.checkpoint_every = 250  # a multiple of log_every: only checked steps are saved
  c.eval = ml_collections.ConfigDict(
      dict(batch_size=64, video_strategy="mean", threshold=0.5, select_metric="video_auc"))
  # Further evaluations of the selected checkpoint, {name: dict(dataset, data_config, split,
  # methods, perturbation, level)}; results in <workdir>/evals/<name>.json (train/evals.py).
  c.evals = ml_collections.ConfigDict()
  return c


# Datasets whose fakes tend to start with a short silence that alone separates them (AVH-Align,
# CVPR 2025; AV-Deepfake1M too, which has no builder here yet).
LEADING_SILENCE_DATASETS = ("fakeavceleb", "av_deepfake1m")


def trim_default(dataset, view):
  """data.trim_leading_silence of a config file: on for the views that hear the audio (av,
  audio) and for the datasets of LEADING_SILENCE_DATASETS, off elsewhere."""
  return view in ("av", "audio") or dataset in LEADING_SILENCE_DATASETS


# Arguments every frame-model zoo config takes (besides `size`, whose default is the model's).
ZOO_ARGS = dict(
    dataset="synthetic_av",
    data_config="small",
    steps=20000,
    pretrained="",
    sbi=0.0,
    robust=0.0,
    accel="")


def zoo_config(a, model, dropout=None, learning_rate=1e-3, warmup_steps=500):
  """The body the zoo configs share, from their parsed arguments `a` (ZOO_ARGS and size): data,
  steps, global batch 32, pretrained weights, self-blending (`sbi`: share of real frames) and
  every robustness distortion at probability `robust`."""
  c = base_config()
  c.model.name = model
  if dropout is not None:
    c.model.dropout = dropout
  c.data.dataset, c.data.config, c.data.image_size = a.dataset, a.data_config, a.size
  c.data.trim_leading_silence = trim_default(a.dataset, c.data.view)
  c.total_steps = a.steps
  c.batch_size = 32
  c.optimizer.learning_rate = learning_rate
  c.optimizer.warmup_steps = warmup_steps
  c.pretrained = a.pretrained
  c.augment.update(augment.config_fields(sbi=a.sbi, **dict.fromkeys(augment.LEVELS, a.robust)))
  return c


def branch_config(a, model, view, warmup_steps=20, **model_fields):
  """The body the video-level branch configs (temporal, lipsync, audio) share, from their parsed
  arguments `a` (dataset, data_config, label, batch, steps and, for clip views, clip_len)."""
  c = base_config()
  c.model = ml_collections.ConfigDict({"name": model, **model_fields})
  c.data.dataset, c.data.config, c.data.view = a.dataset, a.data_config, view
  c.data.trim_leading_silence = trim_default(a.dataset, view)
  if "clip_len" in a:
    c.data.clip_len = a.clip_len
  c.data.label_key = a.label
  c.batch_size, c.total_steps = a.batch, a.steps
  c.eval.batch_size = 16
  c.optimizer.learning_rate = 1e-3
  c.optimizer.warmup_steps = warmup_steps
  c.log_every, c.eval_every, c.checkpoint_every = 25, 100, 100
  return c


def config_hash(config):
  """A short stable hash of the resolved config, for provenance and resume checks."""
  text = json.dumps(config.to_dict(), sort_keys=True, default=str)
  return hashlib.sha256(text.encode()).hexdigest()[:16]
