"""SRM (Luo et al. 2021, "Generalizing Face Forgery Detection with High-frequency Features"),
as DeepfakeBench runs it (detectors/srm_detector.py).

Two Xception streams: `backbone_rgb` on the image and `backbone_srm` on its SRM noise
residuals (three fixed high-pass filters over the summed channels, clipped to [-3, 3]). After
each of the two entry convs the RGB features, SRM-filtered again per channel (a fixed grouped
conv) and projected by a 1x1 conv + batch norm + ReLU, are added to the noise stream; a pixel
attention map computed from the residuals (SRM filters, two convs, CBAM-style spatial
attention) re-weights the RGB features (x * a + x); after the entry flow and after the first
half of the middle flow a dual cross-modal attention lets each stream attend to the other
(its two linear layers act on the H*W axis of the energy matrix: 16*16 at 256 px, so an
imported DeepfakeBench checkpoint needs 16 px maps, inputs of about 248-262 px; a model
trained here works at any size); at the end the two 2048-channel maps are fused (1x1 conv,
batch norm, ReLU, channel attention) and classified by the RGB stream's head (ReLU, average
pool, linear). DeepfakeBench's GaussianNoise and GaussianSmoothing do nothing at test time
(and its features() never calls them), so they are not here.

The SRM filters are constants, not parameters (DeepfakeBench does not learn them either).
Input [-1, 1], one logit. Both streams use models/xception.py in `layout` (default
'deepfakebench': PyTorch batch norm and pooling); the modules around them always use PyTorch's
batch-norm settings. `width` and `middle_blocks` shrink everything for tests, as for Xception.
DeepfakeBench trains it with an AM-softmax loss; here it trains with the common objective.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from fakedetect_jax.models import backend
from fakedetect_jax.models.layers import Conv1x1, cam_tap, torch_bn
from fakedetect_jax.models.registry import ModelSpec, register
from fakedetect_jax.models.xception import Xception


def srm_filters():
  """The three SRM high-pass filters [3, 5, 5]: a 3x3 second-order one / 4, the 5x5 'KV'
  filter / 12 and a horizontal second difference / 2."""
  f1 = np.zeros((5, 5))
  f1[1:4, 1:4] = [[-1, 2, -1], [2, -4, 2], [-1, 2, -1]]
  f2 = np.array([[-1, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2], [2, -6, 8, -6, 2],
                 [-1, 2, -2, 2, -1]], float)
  f3 = np.zeros((5, 5))
  f3[2, 1:4] = [1, -2, 1]
  return np.stack([f1 / 4, f2 / 12, f3 / 2]).astype(np.float32)


def summed_kernel(inc):
  """DeepfakeBench's SRMConv2d_simple kernel, torch layout [3, inc, 5, 5]: filter o on the sum
  of the input channels."""
  return np.repeat(srm_filters()[:, None], inc, axis=1)


def grouped_kernel(inc):
  """DeepfakeBench's SRMConv2d_Separate kernel, torch layout [3 * inc, 1, 5, 5], for a conv with
  `inc` groups: output k applies filter k // inc to input channel k // 3 (its filters repeat
  filter-major while the groups run channel-major, so the channels do not each get all three)."""
  return np.repeat(srm_filters()[:, None], inc, axis=0)


def srm_residuals(x):
  """SRMConv2d_simple: [B, H, W, C] -> [B, H, W, 3] noise residuals in [-3, 3]."""
  k = jnp.asarray(summed_kernel(x.shape[-1]).transpose(2, 3, 1, 0), x.dtype)
  y = jax.lax.conv_general_dilated(
      x, k, (1, 1), ((2, 2), (2, 2)), dimension_numbers=("NHWC", "HWIO", "NHWC"))
  return jnp.clip(y, -3, 3)


def srm_per_channel(x):
  """SRMConv2d_Separate's fixed conv and clip: [B, H, W, C] -> [B, H, W, 3C]."""
  c = x.shape[-1]
  k = grouped_kernel(c)[:, 0].transpose(1, 2, 0)  # [5, 5, 3C]
  if not backend.use_cpu_rewrites():
    y = jax.lax.conv_general_dilated(
        x,
        jnp.asarray(k[:, :, None], x.dtype), (1, 1), ((2, 2), (2, 2)),
        feature_group_count=c,
        dimension_numbers=("NHWC", "HWIO", "NHWC"))
  else:  # XLA:CPU's grouped conv is slow (layers.DepthwiseConv): 25 shifted multiply-adds
    xr = jnp.pad(jnp.repeat(x, 3, axis=-1), ((0, 0), (2, 2), (2, 2), (0, 0)))
    h, w = x.shape[1:3]
    y = sum(
        xr[:, i:i + h, j:j + w] * jnp.asarray(k[i, j], x.dtype) for i in range(5) for j in range(5))
  return jnp.clip(y, -3, 3)


def max_along(x, axis):
  """x.max(axis, keepdims=True) whose gradient goes to the first maximum, as torch.max(dim)'s
  does. jnp.max's gradient divides by the number of elements equal to the maximum, and XLA:CPU
  at low optimisation levels recomputed a batch-normalised operand differently from its max so
  that none was equal: 0 / 0 (NaN) in training."""
  index = jnp.argmax(x, axis=axis, keepdims=True)
  return jnp.take_along_axis(x, index, axis=axis)


class SRMConvSeparate(nn.Module):
  """SRMConv2d_Separate: the fixed per-channel SRM conv, then `conv` (1x1) + `bn` + ReLU."""
  features: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train):
    y = Conv1x1(self.features, dtype=self.dtype, name="conv")(srm_per_channel(x))
    return nn.relu(torch_bn(train, self.dtype, "bn")(y))


class PixelAttention(nn.Module):
  """SRMPixelAttention: SRM residuals of its input, conv 3x3/2 + BN + ReLU, conv 3x3 + BN +
  ReLU (both valid, the sizes of Xception's entry convs), spatial attention: the channel mean
  and max, a 7x7 conv, sigmoid -> [B, H', W', 1]."""
  widths: tuple = (32, 64)
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train):
    x = srm_residuals(x)
    for i, (f, s) in enumerate(zip(self.widths, (2, 1))):
      x = nn.Conv(f, (3, 3), (s, s), "VALID", use_bias=False, dtype=self.dtype, name=f"conv_{i}")(x)
      x = nn.relu(torch_bn(train, self.dtype, f"bn_{i}")(x))
    pooled = jnp.concatenate([x.mean(-1, keepdims=True), max_along(x, -1)], axis=-1)
    a = nn.Conv(
        1, (7, 7), padding=((3, 3), (3, 3)), use_bias=False, dtype=self.dtype, name="pa_conv")(
            pooled)
    return nn.sigmoid(a)


class DualCrossModalAttention(nn.Module):
  """Each of two same-shaped maps attends to the other: shared keys, energy [B, N, N] over the
  N = H*W positions, a linear layer over N (each direction its own) before the softmax, values
  of the other map, added back with learned gains (0 at init)."""
  ratio: int = 8
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, y):
    b, h, w, c = x.shape
    n, ck = h * w, c // self.ratio
    conv = lambda f, name: Conv1x1(f, use_bias=True, dtype=self.dtype, name=name)
    share = conv(ck, "key_conv_share")
    k1 = share(conv(ck, "key_conv1")(x)).reshape(b, n, ck)
    k2 = share(conv(ck, "key_conv2")(y)).reshape(b, n, ck)
    energy = jnp.einsum("bic,bjc->bij", k1, k2)  # [B, positions of x, positions of y]
    softmax = lambda z: jax.nn.softmax(z.astype(jnp.float32), axis=-1).astype(self.dtype)
    att_y_on_x = softmax(nn.Dense(n, dtype=self.dtype, name="linear1")(energy))
    att_x_on_y = softmax(nn.Dense(n, dtype=self.dtype, name="linear2")(energy.transpose(0, 2, 1)))
    gamma1 = self.param("gamma1", nn.initializers.zeros, (1,)).astype(self.dtype)
    gamma2 = self.param("gamma2", nn.initializers.zeros, (1,)).astype(self.dtype)
    v_y = conv(c, "value_conv2")(y).reshape(b, n, c)
    out_x = gamma1 * jnp.einsum("bij,bjc->bic", att_y_on_x, v_y).reshape(x.shape) + x
    v_x = conv(c, "value_conv1")(x).reshape(b, n, c)
    out_y = gamma2 * jnp.einsum("bji,bic->bjc", att_x_on_y, v_x).reshape(y.shape) + y
    return out_x, out_y


class FeatureFusion(nn.Module):
  """FeatureFusionModule: concat, 1x1 conv + BN + ReLU, times its channel attention (a shared
  two-layer 1x1 MLP, ratio 16, on the average- and max-pooled map, summed, sigmoid)."""
  features: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, y, train):
    f = Conv1x1(self.features, dtype=self.dtype, name="conv")(jnp.concatenate([x, y], axis=-1))
    f = nn.relu(torch_bn(train, self.dtype, "bn")(f))
    reduce = Conv1x1(self.features // 16, dtype=self.dtype, name="ca_reduce")
    expand = Conv1x1(self.features, dtype=self.dtype, name="ca_expand")
    mlp = lambda p: expand(nn.relu(reduce(p)))
    b, h, w, c = f.shape
    peak = max_along(f.reshape(b, h * w, c), 1).reshape(b, 1, 1, c)
    att = mlp(f.mean((1, 2), keepdims=True)) + mlp(peak)
    return f * nn.sigmoid(att)


class SRM(nn.Module):
  dropout: float = 0.5
  width: float = 1.0
  middle_blocks: int = 8
  dtype: jnp.dtype = jnp.float32
  layout: str = "deepfakebench"

  @nn.compact
  def __call__(self, x, train=False):
    w = lambda f: max(8, int(f * self.width))
    stream = lambda name: Xception(
        self.dropout, self.width, self.middle_blocks, self.dtype, self.layout, name=name)
    rgb, noise = stream("backbone_rgb"), stream("backbone_srm")
    x = x.astype(self.dtype)
    srm = srm_residuals(x)  # srm_conv0
    x = rgb(x, train, ("stem0",))
    y = noise(srm, train, ("stem0",)) + SRMConvSeparate(
        w(32), self.dtype, name="srm_conv1")(x, train)
    y = nn.relu(y)
    x = rgb(x, train, ("stem1",))
    y = noise(y, train, ("stem1",)) + SRMConvSeparate(w(64), self.dtype, name="srm_conv2")(x, train)
    y = nn.relu(y)
    att = PixelAttention((w(32), w(64)), self.dtype, name="srm_sa")(srm, train)
    x = nn.relu(torch_bn(train, self.dtype, "srm_sa_post")(x * att + x))
    x, y = rgb(x, train, ("entry",)), noise(y, train, ("entry",))
    x, y = DualCrossModalAttention(dtype=self.dtype, name="dual_cma0")(x, y)
    x, y = rgb(x, train, ("middle_a",)), noise(y, train, ("middle_a",))
    x, y = DualCrossModalAttention(dtype=self.dtype, name="dual_cma1")(x, y)
    x = rgb(x, train, ("middle_b", "exit"))
    y = noise(y, train, ("middle_b", "exit"))
    f = FeatureFusion(w(2048), self.dtype, name="fusion")(x, y, train)
    f = cam_tap(self, nn.relu(f))  # the RGB classifier's ReLU; Grad-CAM reads this map
    return rgb(f, train, ("head",))


# Keras' ImageNet Xception initialises both streams (as DeepfakeBench initialises them from
# ImageNet weights); the modules between them start fresh.
register(
    "srm",
    ModelSpec(
        SRM,
        default_size=256,
        min_size=32,
        converters={
            "keras": {
                "app": "Xception",
                "prefixes": (("backbone_rgb",), ("backbone_srm",))
            }
        }))
