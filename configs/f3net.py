"""F3-Net (Qian et al. 2020): DCT band decomposition (FAD) into a 12-channel Xception,
DeepfakeBench's detector.

python -m fakedetect_jax.main --config=configs/f3net.py:dataset=ffpp,data_config=c23 --workdir=runs/f3net
python -m fakedetect_jax.main --config=configs/f3net.py:pretrained=weights/f3net_imagenet.npz ...
python -m fakedetect_jax.main --config=configs/f3net.py:runlocal=true --workdir=runs/f3net_local
Arguments: dataset, data_config, size (256 as in DeepfakeBench; >= 32; the FAD's learnable band
filters take the size's shape, so a run keeps its size), steps, pretrained (an .npz of this
model's variables: ImageNet Xception weights with conv1 spread over the 12 FAD channels, as
DeepfakeBench starts, come from `python -m fakedetect_jax.models convert xception imagenet
X.npz` and then `fakedetect_jax.models.f3net.imagenet_npz('X.npz', 'weights/f3net_imagenet.npz')`),
sbi, robust, accel (see configs/xception.py), runlocal. A released DeepfakeBench f3net checkpoint
is imported with `python -m fakedetect_jax.models import-deepfakebench ... --detector=f3net`
(models/deepfakebench; 256 px); `--config.init_from=<that run>` fine-tunes it.
DeepfakeBench's recipe (config/detector/f3net.yaml): ImageNet Xception, Adam, learning rate 2e-4,
weight decay 5e-4 (Adam's L2), batch 32, dropout 0.5 before the classifier, 256 px, no data
augmentation, 10 epochs, cross-entropy.
"""
from fakedetect_jax import config_lib


def get_config(arg=None):
  a = config_lib.parse_arg(arg, size=256, **config_lib.ZOO_ARGS, runlocal=False)
  c = config_lib.zoo_config(a, "f3net", dropout=0.5, learning_rate=2e-4)
  c = config_lib.apply_accel(c, a.accel)
  return config_lib.runlocal(c) if a.runlocal else c
