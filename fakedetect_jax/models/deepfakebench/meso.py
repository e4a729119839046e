"""DeepfakeBench's MesoNets (training/networks/mesonet.py; detectors meso4, meso4Inception).

Its Meso4 normalises blocks 1-2 with one batch norm (`bn1`) and blocks 3-4 with another (`bn2`);
MesoInception4 shares `bn1` between its two conv blocks. At test time a shared batch norm is the
same affine map wherever it is applied, so its tensors fill each of our blocks' own. Its
classifier flattens the last [C=16, 8, 8] map channel-first; ours flattens [8, 8, C], so fc1's
columns are permuted to our order. Inputs must be 256 px (fc1 takes 16 * 8 * 8 features).
"""
from fakedetect_jax.models.deepfakebench import Detector, register


def _fc1_in_our_order(mapper, key, channels=16):
  w = mapper.tensor(key + ".weight")  # [16, C * H * W], channel-major
  side = int(round((w.shape[1] / channels)**0.5))
  if channels * side * side != w.shape[1]:
    mapper.fail(f"{key + '.weight'!r} has shape {w.shape}: not 16 x 16*h*w features")
  return w.reshape(w.shape[0], channels, side, side).transpose(0, 2, 3, 1).reshape(w.shape[0], -1)


def _head(m, b):
  m.dense("_Head_0/Dense_0", b + "fc1", weight=_fc1_in_our_order(m, b + "fc1"))
  m.logit("_Head_0/Dense_1", b + "fc2")


def fill_meso4(m, b="backbone."):
  for i, (conv, bn) in enumerate(
      (("conv1", "bn1"), ("conv2", "bn1"), ("conv3", "bn2"), ("conv4", "bn2"))):
    m.conv(f"_ConvBlock_{i}/Conv_0", b + conv)
    m.bn(f"_ConvBlock_{i}/BatchNorm_0", b + bn)
  _head(m, b)


def fill_meso4_inception(m, b="backbone."):
  # Our inception module creates its convs in the order: 1x1 branch, then for each of the
  # three other branches its 3x3 (dilated) conv before the 1x1 that feeds it.
  order = ("conv1", "conv2_2", "conv2_1", "conv3_2", "conv3_1", "conv4_2", "conv4_1")
  for layer in (1, 2):
    for j, name in enumerate(order):
      m.conv(f"_Inception_{layer - 1}/Conv_{j}", f"{b}Incption{layer}_{name}")
    m.bn(f"BatchNorm_{layer - 1}", f"{b}Incption{layer}_bn")
  for i, conv in enumerate(("conv1", "conv2")):
    m.conv(f"_ConvBlock_{i}/Conv_0", b + conv)
    m.bn(f"_ConvBlock_{i}/BatchNorm_0", b + "bn1")
  _head(m, b)


_SOURCE = "SCLBD/DeepfakeBench training/networks/mesonet.py"
register("meso4",
         Detector("meso4", fill_meso4, model_kwargs={"layout": "deepfakebench"}, source=_SOURCE))
register(
    "meso4Inception",
    Detector(
        "mesoinception4",
        fill_meso4_inception,
        model_kwargs={"layout": "deepfakebench"},
        source=_SOURCE))
