"""TALL (Xu et al. 2023): clips of consecutive frames tiled 2x2 into thumbnails for an image
backbone (models/tall.py; the paper's Swin-B is not here: EfficientNet-B0 by default).

python -m fakedetect_jax.main --config=configs/tall.py --workdir=runs/tall
python -m fakedetect_jax.main --config=configs/tall.py:dataset=fakeavceleb,data_config=v1.2_clips,pretrained=weights/tall_b0.npz ...
python -m fakedetect_jax.main --config=configs/tall.py:runlocal=true --workdir=runs/tall_local
Arguments: dataset, data_config (a builder config of consecutive frames, sampling='clips', e.g.
synthetic_av's small_clips), backbone (a registered frame model, default efficientnet_b0), size
(the frames' and thumbnails' side; 224 as in DeepfakeBench, even, >= the backbone's min_size),
clip_len (16: 4 thumbnails of 4 frames; a multiple of 4), mask (the training cutout's side in
frame pixels, 16 as in DeepfakeBench; 0 = off), steps, batch, label ('' = video_label where the
dataset has one, else label), pretrained (an .npz of this model's variables: a backbone's
converted ImageNet .npz, `python -m fakedetect_jax.models convert efficientnet_b0 imagenet
B0.npz`, nested by `fakedetect_jax.models.tall.backbone_npz('B0.npz', 'weights/tall_b0.npz')`),
runlocal.
DeepfakeBench's recipe (config/detector/tall.yaml): Swin-B from ImageNet-22k weights, Adam,
learning rate 2e-5, weight decay 5e-4, batch 64, 224 px, clips of 4 frames (one thumbnail),
32 frames a video, a 16 px cutout, stochastic depth 0.1, 100 epochs, cross-entropy. Here Adam at
1e-4 from pretrained weights (1e-3 from scratch), dropout 0.2 before the logit.
"""
from fakedetect_jax import config_lib

# Datasets whose examples carry the visual track's own label (video_label).
VIDEO_LABEL_DATASETS = ("synthetic_av", "fakeavceleb")


def get_config(arg=None):
  a = config_lib.parse_arg(
      arg,
      dataset="synthetic_av",
      data_config="small_clips",
      backbone="efficientnet_b0",
      size=224,
      clip_len=16,
      mask=16,
      steps=4000,
      batch=16,
      label="",
      pretrained="",
      runlocal=False)
  if not a.label:
    a.label = "video_label" if a.dataset in VIDEO_LABEL_DATASETS else "label"
  c = config_lib.branch_config(
      a, "tall", "clips", warmup_steps=100, backbone=a.backbone, mask_size=a.mask, dropout=0.2)
  c.data.image_size = a.size
  c.pretrained = a.pretrained
  c.optimizer.learning_rate = 1e-4 if a.pretrained else 1e-3
  return config_lib.runlocal(c) if a.runlocal else c
