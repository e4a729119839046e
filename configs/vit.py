"""Vision Transformers for frames: ViT-S/16 and ViT-B/16 (timm's layout), the Cross Efficient
ViT of Coccomini et al. (2022) and a convolutional ViT (CViT, Wodajo and Atnafu 2021).

python -m fakedetect_jax.main --config=configs/vit.py:variant=s16,dataset=ffpp,pretrained=weights/vit_s16.npz --workdir=runs/vit_s16
python -m fakedetect_jax.main --config=configs/vit.py:variant=cross_efficient_vit,dataset=dfdc --workdir=runs/cevit
Arguments: variant (s16 | b16 | cross_efficient_vit | conv_vit), dataset, data_config, size
(224; a multiple of 16 for s16/b16, of 32 for the others), steps, pretrained (.npz from
`python -m fakedetect_jax.models convert`: timm safetensors for s16/b16, Keras EfficientNetB0
for the Cross Efficient ViT's trunks; conv_vit has none), sbi, robust, accel (see
configs/xception.py).
ViTs fine-tune with AdamW (lr 1e-4, weight decay 0.05, warm-up); Cross Efficient ViT as its
authors: SGD, lr 0.01, weight decay 1e-7; CViT: Adam, lr 1e-4.
"""
from fakedetect_jax import config_lib
from fakedetect_jax.errors import ConfigError

_MODELS = {
    "s16": "vit_s16",
    "b16": "vit_b16",
    "cross_efficient_vit": "cross_efficient_vit",
    "conv_vit": "conv_vit"
}


def get_config(arg=None):
  a = config_lib.parse_arg(arg, variant="s16", size=224, **config_lib.ZOO_ARGS, runlocal=False)
  if a.variant not in _MODELS:
    raise ConfigError(f"unknown ViT variant {a.variant!r}; known: {', '.join(_MODELS)}")
  c = config_lib.zoo_config(a, _MODELS[a.variant], warmup_steps=1000)
  if a.variant in ("s16", "b16"):
    c.model.dropout = 0.1
    c.optimizer.name, c.optimizer.learning_rate, c.optimizer.weight_decay = "adamw", 1e-4, 0.05
    c.optimizer.grad_clip_norm = 1.0
  elif a.variant == "cross_efficient_vit":
    c.model.dropout = 0.15
    c.optimizer.name, c.optimizer.learning_rate = "sgd", 0.01
  else:
    c.model.dropout = 0.1
    c.optimizer.learning_rate = 1e-4
  c = config_lib.apply_accel(c, a.accel)
  return config_lib.runlocal(c) if a.runlocal else c
