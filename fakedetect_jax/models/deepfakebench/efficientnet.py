"""DeepfakeBench's EfficientNet-B4 (training/networks/efficientnetb4.py, detector
efficientnetb4): efficientnet_pytorch's B4 under `backbone.efficientnet`, its classifier
`backbone.last_layer` on the average-pooled head features. Our EfficientNet with
layout='deepfakebench' computes what it computes (see models/efficientnet.py)."""
from fakedetect_jax.models import efficientnet as ours
from fakedetect_jax.models.deepfakebench import Detector, register


def fill_efficientnet(m, b="backbone.efficientnet.", width=0.0, depth=0.0):
  """Fills our EfficientNet from efficientnet_pytorch's names. Our block names are Keras'
  ('block2a_'), its blocks are numbered in the same order ('_blocks.1.')."""
  m.conv("stem_conv", b + "_conv_stem")
  m.bn("stem_bn", b + "_bn0")
  variant = "b4"
  w = width or ours.VARIANTS[variant][0]
  d = depth or ours.VARIANTS[variant][1]
  for i, (name, _, _, _, expand, _) in enumerate(ours.block_plan(w, d)):
    t = f"{b}_blocks.{i}."
    if expand != 1:
      m.conv(name + "expand_conv", t + "_expand_conv")
      m.bn(name + "expand_bn", t + "_bn0")
    m.conv(name + "dwconv", t + "_depthwise_conv")
    m.bn(name + "bn", t + "_bn1")
    m.conv(name + "se_reduce", t + "_se_reduce")
    m.conv(name + "se_expand", t + "_se_expand")
    m.conv(name + "project_conv", t + "_project_conv")
    m.bn(name + "project_bn", t + "_bn2")
  m.conv("top_conv", b + "_conv_head")
  m.bn("top_bn", b + "_bn1")
  m.logit("head/logit", "backbone.last_layer")


def _fill(m):
  # A shrunk test model passes its width/depth through the detector's model_kwargs.
  kw = m.model_kwargs
  fill_efficientnet(m, width=kw.get("width", 0.0), depth=kw.get("depth", 0.0))


register(
    "efficientnetb4",
    Detector(
        "efficientnet_b4",
        _fill,
        model_kwargs={
            "layout": "deepfakebench",
            "dropout": 0.0
        },
        source="SCLBD/DeepfakeBench training/networks/efficientnetb4.py (efficientnet_pytorch B4)"))
