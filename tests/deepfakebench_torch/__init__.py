"""PyTorch models with DeepfakeBench's module names (its training/networks and detectors), for
the import tests: written here from its layer lists, not copied, so a test compares our Flax
import against an independent PyTorch forward pass of the same architecture.

`Wrapped(backbone)` is a detector as DeepfakeBench holds it (the network under `.backbone`);
`randomize` gives every weight and batch-norm statistic random values (not the init's ones and
zeros, which would hide a swapped scale and bias); `save` writes the state dict as its trainer
does, optionally under a DataParallel 'module.' prefix.
"""
import torch
from torch import nn


class Wrapped(nn.Module):

  def __init__(self, backbone):
    super().__init__()
    self.backbone = backbone

  def forward(self, x):
    return self.backbone(x)


def randomize(model, seed=0):
  g = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for name, t in model.state_dict().items():
      if name.endswith("num_batches_tracked"):
        continue
      if name.endswith("running_var"):
        t.copy_(0.5 + torch.rand(t.shape, generator=g))
      elif name.endswith("running_mean"):
        t.copy_(0.2 * torch.randn(t.shape, generator=g))
      elif t.ndim == 1:
        # batch-norm scale/shift and biases: around 1 and 0 so activations stay in range
        t.copy_((1.0 if name.endswith("weight") else 0.0) + 0.1 * torch.randn(t.shape, generator=g))
      else:
        # Linear layers get a larger gain: pooled features are small and nearly constant
        # across inputs, and a test must see a wrong padding or layout in the logits.
        fan_in = max(1, t[0].numel())
        gain = 9.0 if t.ndim == 2 else 1.5
        t.copy_(torch.randn(t.shape, generator=g) * (gain / fan_in)**0.5)
  return model.eval()


def save(model, path, data_parallel=False):
  state = model.state_dict()
  if data_parallel:
    state = {"module." + k: v for k, v in state.items()}
  torch.save(state, path)
  return path


def fake_logit(model, images_nhwc_uint8):
  """DeepfakeBench's test-time fake log-odds of uint8 crops: its normalisation (mean 0.5,
  std 0.5), its 2-class output, log softmax[:, 1] - log softmax[:, 0]."""
  x = torch.from_numpy(images_nhwc_uint8).permute(0, 3, 1, 2).float() / 255.0
  x = (x - 0.5) / 0.5
  with torch.no_grad():
    out = model(x)
  out = out[0] if isinstance(out, tuple) else out
  return (out[:, 1] - out[:, 0]).numpy()
