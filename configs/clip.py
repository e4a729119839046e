"""Detectors on OpenAI CLIP's image towers (models/clip.py): UnivFD, full fine-tuning, and the
towers as plain zoo models.

python -m fakedetect_jax.main --config=configs/clip.py:variant=univfd,dataset=ffpp,data_config=c23,pretrained=weights/univfd_clip_l14.npz --workdir=runs/univfd
python -m fakedetect_jax.main --config=configs/clip.py:variant=finetune,tower=b16,pretrained=weights/clip_finetune_b16.npz --workdir=runs/clip_ft
python -m fakedetect_jax.main --config=configs/clip.py:variant=univfd,runlocal=true --workdir=runs/univfd_local
Arguments: variant (univfd | finetune | b16 | l14: the last two are clip_vit_b16 / clip_vit_l14,
every weight trained at one rate), tower (l14 | b16, for univfd and finetune), dataset,
data_config, size (224, the towers' own; a multiple of the patch, 14 or 16), steps, pretrained
(an .npz from `python -m fakedetect_jax.models convert <model> <CLIP checkpoint> out.npz`, Hugging
Face transformers or open_clip weights, docs/pretrained.md; '' trains from a random tower, which
only makes sense for tests), tower_lr (finetune: the tower's learning rate as a share of the
head's), sbi, robust, accel (see configs/xception.py).
Recipes: UnivFD (Ojha et al. CVPR 2023) trains the linear probe alone with Adam, learning rate
1e-4; finetune uses AdamW (1e-4 for the head, tower_lr x that for the tower, weight decay 0.05,
gradient clipping at 1, warm-up); b16 / l14 AdamW at 2e-5 throughout.
"""
from fakedetect_jax import config_lib
from fakedetect_jax.errors import ConfigError

_MODELS = {
    "univfd": "univfd",
    "finetune": "clip_finetune",
    "b16": "clip_vit_b16",
    "l14": "clip_vit_l14"
}


def get_config(arg=None):
  a = config_lib.parse_arg(
      arg,
      variant="univfd",
      tower="l14",
      size=224,
      tower_lr=0.1,
      **config_lib.ZOO_ARGS,
      runlocal=False)
  if a.variant not in _MODELS:
    raise ConfigError(f"unknown CLIP variant {a.variant!r}; known: {', '.join(_MODELS)}")
  if a.tower not in ("l14", "b16"):
    raise ConfigError(f"unknown CLIP tower {a.tower!r}; known: l14, b16")
  c = config_lib.zoo_config(
      a,
      _MODELS[a.variant],
      dropout=0.0,
      learning_rate=1e-4,
      warmup_steps=0 if a.variant == "univfd" else 500)
  if a.variant in ("univfd", "finetune"):
    c.model.variant = a.tower
  if a.variant != "univfd":
    c.optimizer.name, c.optimizer.weight_decay, c.optimizer.grad_clip_norm = "adamw", 0.05, 1.0
  if a.variant == "finetune":
    c.optimizer.lr_scale = {"^tower/": a.tower_lr}
  elif a.variant in ("b16", "l14"):
    c.optimizer.learning_rate = 2e-5
  c = config_lib.apply_accel(c, a.accel)
  return config_lib.runlocal(c) if a.runlocal else c
