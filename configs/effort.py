"""Effort (Yan et al., ICML 2025): CLIP ViT-L/14 training only rank-r residuals of its attention
projections, orthogonal to their principal subspace (models/effort.py).

python -m fakedetect_jax.main --config=configs/effort.py:dataset=ffpp,data_config=c23,pretrained=weights/effort_clip_l14.npz --workdir=runs/effort
python -m fakedetect_jax.main --config=configs/effort.py:runlocal=true --workdir=runs/effort_local
Arguments: dataset, data_config, size (224; a multiple of 14), steps, pretrained (an .npz from
`python -m fakedetect_jax.models convert effort <CLIP ViT-L/14 checkpoint> out.npz`, which
splits every projection by SVD; docs/pretrained.md), rank (r, 1 as released), orth_weight and
sv_weight (the weights of the orthogonality and singular-value losses; DeepfakeBench's copy of
the detector trains with the classification loss alone: 0,0), tower (l14 | b16), sbi, robust,
accel (see configs/xception.py).
DeepfakeBench's effort.yaml: Adam, learning rate 2e-5, batch 32, 224 px, CLIP's normalisation
(applied inside the model here), no learning-rate schedule. A released DeepfakeBench effort
checkpoint is imported with `python -m fakedetect_jax.models import-deepfakebench ...
--detector=effort`.
"""
from fakedetect_jax import config_lib


def get_config(arg=None):
  a = config_lib.parse_arg(
      arg,
      size=224,
      rank=1,
      orth_weight=1.0,
      sv_weight=1.0,
      tower="l14",
      **config_lib.ZOO_ARGS,
      runlocal=False)
  c = config_lib.zoo_config(a, "effort", dropout=0.0, learning_rate=2e-5, warmup_steps=0)
  c.model.variant, c.model.rank = a.tower, a.rank
  c.model.orth_weight, c.model.sv_weight = a.orth_weight, a.sv_weight
  c.optimizer.schedule = "constant"
  c = config_lib.apply_accel(c, a.accel)
  return config_lib.runlocal(c) if a.runlocal else c
