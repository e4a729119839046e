"""DeepfakeBench's Xception family: detectors xception, spsl, srm, ucf, f3net (training/networks/
xception.py and detectors/{xception,spsl,srm,ucf,f3net}_detector.py).

Its Xception is FaceForensics++' PyTorch port of Keras' (models/xception.py, layout
'deepfakebench'), with other names: conv1/bn1, conv2/bn2 are Keras' block1_conv1/_conv2;
residual blocks block1-3 are Keras' blocks 2-4, the middle blocks block4-11 are blocks 5-12
and the exit block block12 is block13, each a `rep` Sequential ([ReLU,] SeparableConv2d,
BatchNorm2d, ...: convs at rep.0, rep.3 without the leading ReLU (block1), else rep.1, rep.4,
rep.7) with shortcut `skip` / `skipbn` (Keras' conv2d_{i} / batch_normalization_{i}); its
separable convs are depthwise `conv1` + `pointwise` (ours: depthwise, pointwise); conv3/bn3,
conv4/bn4 are block14's two separable convs; `last_linear` the 2-class classifier
(`last_linear.1` when built with dropout). A shrunk test network (fewer middle blocks)
numbers them block4, block5, ... and keeps block12 (tests/deepfakebench_torch/xception.py).

Every Xception of DeepfakeBench builds `adjust_channel` (used in mode 'adjust_channel' only),
so a checkpoint of a mode-'original' detector carries it unused; the SRM detector's second
stream never runs its classifier and `blur` is a train-time buffer. UCF's content encoder,
specific branch and decoder are train-only, as is its encoder's own `last_linear`.

SRM's filters are fixed (not learnt): the checkpoint's copies are checked against ours, as are
F3Net's DCT matrices and base band filters (FAD_head; its four `learnable` parts are weights).
"""
import numpy as np

from fakedetect_jax.models import f3net as f3net_model
from fakedetect_jax.models import srm as srm_model
from fakedetect_jax.models.deepfakebench import Detector, register


def _sep(m, ours, key):
  m.conv(ours + "/depthwise", key + ".conv1")
  m.conv(ours + "/pointwise", key + ".pointwise")


def _block(m, p, keras_block, key, convs, first_rep, skip=None):
  for j in range(convs):
    r = first_rep + 3 * j
    _sep(m, f"{p}block{keras_block}_sepconv{j + 1}", f"{key}.rep.{r}")
    m.bn(f"{p}block{keras_block}_sepconv{j + 1}_bn", f"{key}.rep.{r + 1}")
  if skip is not None:
    m.conv(f"{p}conv2d_{skip}", key + ".skip")
    m.bn(f"{p}batch_normalization_{skip}", key + ".skipbn")


def fill_xception(m, b, ours="", middle_blocks=8, head=True, adjust=False):
  """DeepfakeBench Xception under checkpoint prefix `b` into our Xception at module path
  `ours` ('' = the root); `head`: its last_linear into our head, `adjust`: adjust_channel."""
  p = ours + "/" if ours else ""
  m.conv(p + "block1_conv1", b + "conv1")
  m.bn(p + "block1_conv1_bn", b + "bn1")
  m.conv(p + "block1_conv2", b + "conv2")
  m.bn(p + "block1_conv2_bn", b + "bn2")
  for i in (1, 2, 3):  # entry flow; block1 starts without ReLU
    _block(m, p, i + 1, f"{b}block{i}", 2, 0 if i == 1 else 1, skip=i - 1)
  for i in range(middle_blocks):
    _block(m, p, 5 + i, f"{b}block{4 + i}", 3, 1)
  _block(m, p, 13, b + "block12", 2, 1, skip=3)
  _sep(m, p + "block14_sepconv1", b + "conv3")
  m.bn(p + "block14_sepconv1_bn", b + "bn3")
  _sep(m, p + "block14_sepconv2", b + "conv4")
  m.bn(p + "block14_sepconv2_bn", b + "bn4")
  if adjust:
    m.conv(p + "adjust_channel_conv", b + "adjust_channel.0")
    m.bn(p + "adjust_channel_bn", b + "adjust_channel.1")
  if head:
    linear = b + "last_linear"
    m.logit(p + "head/logit", linear + ".1" if m.has(linear + ".1.weight") else linear)


def _middle(m):
  return m.model_kwargs.get("middle_blocks", 8)


def fill_plain(m):
  """xception: the network under `backbone.`, ours is the network itself."""
  fill_xception(m, "backbone.", "", _middle(m))


def fill_spsl(m):
  """spsl: the network under `backbone.` (its conv1 takes 4 channels), ours under backbone."""
  fill_xception(m, "backbone.", "backbone", _middle(m))


def _fixed(m, key, want):
  got = m.tensor(key)
  if got.shape != want.shape or not np.allclose(got, want, atol=1e-6):
    m.fail(f"{key!r} is not the fixed SRM filter bank of shape {want.shape}")


def fill_srm(m):
  for stream in ("backbone_rgb", "backbone_srm"):
    fill_xception(m, stream + ".", stream, _middle(m), head=stream == "backbone_rgb")
  _fixed(m, "srm_conv0.kernel", srm_model.summed_kernel(3))
  _fixed(m, "srm_sa.srm.kernel", srm_model.summed_kernel(3))
  for name in ("srm_conv1", "srm_conv2"):
    inc = m.target[f"params/{name}/conv/kernel"].shape[2] // 3
    _fixed(m, name + ".kernel", srm_model.grouped_kernel(inc))
    m.conv(name + "/conv", name + ".out_conv.0")
    m.bn(name + "/bn", name + ".out_conv.1")
  for i, (conv, bn) in enumerate(((0, 1), (3, 4))):
    m.conv(f"srm_sa/conv_{i}", f"srm_sa.conv.{conv}")
    m.bn(f"srm_sa/bn_{i}", f"srm_sa.conv.{bn}")
  m.conv("srm_sa/pa_conv", "srm_sa.pa.conv")
  m.bn("srm_sa_post", "srm_sa_post.0")
  for cma in ("dual_cma0", "dual_cma1"):
    for conv in ("key_conv1", "key_conv2", "key_conv_share", "value_conv1", "value_conv2"):
      m.conv(f"{cma}/{conv}", f"{cma}.{conv}")
    for linear in ("linear1", "linear2"):
      m.dense(f"{cma}/{linear}", f"{cma}.{linear}")
    for gamma in ("gamma1", "gamma2"):
      m.put(f"params/{cma}/{gamma}", m.tensor(f"{cma}.{gamma}"), f"{cma}.{gamma}")
  m.conv("fusion/conv", "fusion.convblk.0")
  m.bn("fusion/bn", "fusion.convblk.1")
  m.conv("fusion/ca_reduce", "fusion.ca.sharedMLP.0")
  m.conv("fusion/ca_expand", "fusion.ca.sharedMLP.2")


def fill_f3net(m):
  """f3net: the Xception under `backbone.` (conv1 takes the FAD's 12 channels), FAD_head's four
  learnable band parts; its DCT matrices and base bands must be ours (at our input side)."""
  fill_xception(m, "backbone.", "backbone", _middle(m))
  n = m.target["params/fad_head/filters_0/learnable"].shape[0]
  d = f3net_model.dct_matrix(n).astype(np.float32)
  fixed = {"FAD_head._DCT_all": d, "FAD_head._DCT_all_T": d.T}
  fixed.update({f"FAD_head.filters.{i}.base": b for i, b in enumerate(f3net_model.base_filters(n))})
  for key, want in fixed.items():
    got = m.tensor(key)
    if got.shape != want.shape or not np.allclose(got, want, atol=1e-6):
      m.fail(f"{key!r} is not F3Net's fixed {n}x{n} DCT matrix or band filter")
  for i in range(f3net_model.BANDS):
    key = f"FAD_head.filters.{i}"
    m.put(f"params/fad_head/filters_{i}/learnable", m.tensor(key + ".learnable"),
          key + ".learnable")


def fill_ucf(m):
  fill_xception(m, "encoder_f.", "encoder_f", _middle(m), head=False, adjust=True)
  for i in (0, 2, 4):
    m.conv(f"block_sha_{i}", f"block_sha.conv2d.{i}")
  m.dense("head_sha_0", "head_sha.mlp.0")
  m.logit("head_sha_2", "head_sha.mlp.2")


_NET = "SCLBD/DeepfakeBench training/networks/xception.py"
_DFB = {"layout": "deepfakebench"}
register(
    "xception",
    Detector(
        "xception",
        fill_plain,
        model_kwargs=_DFB,
        unused=("backbone.adjust_channel",),
        source=f"{_NET}, detectors/xception_detector.py"))
register(
    "spsl",
    Detector(
        "spsl",
        fill_spsl,
        model_kwargs=_DFB,
        unused=("backbone.adjust_channel",),
        source=f"{_NET}, detectors/spsl_detector.py"))
register(
    "srm",
    Detector(
        "srm",
        fill_srm,
        model_kwargs=_DFB,
        unused=("backbone_rgb.adjust_channel", "backbone_srm.adjust_channel",
                "backbone_srm.last_linear", "blur"),
        source=f"{_NET}, detectors/srm_detector.py"))
register(
    "f3net",
    Detector(
        "f3net",
        fill_f3net,
        model_kwargs=_DFB,
        unused=("backbone.adjust_channel",),
        source=f"{_NET}, detectors/f3net_detector.py"))
register(
    "ucf",
    Detector(
        "ucf",
        fill_ucf,
        model_kwargs=_DFB,
        unused=("encoder_c", "con_gan", "block_spe", "head_spe", "encoder_f.last_linear"),
        source=f"{_NET}, detectors/ucf_detector.py"))
