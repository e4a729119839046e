"""Reading a DeepfakeBench checkpoint and placing its tensors in a Flax variables tree.

DeepfakeBench saves `model.state_dict()` with torch.save, from a DataParallel / DDP wrapper or
not, so keys may start with 'module.'. It is read with `torch.load(weights_only=True)`, which
refuses to unpickle anything but tensors and plain containers: a checkpoint is a stranger's file.

A `Mapper` is what each detector's mapping function (models/deepfakebench/<family>.py) fills:
every tensor it takes is checked against the shape our model needs at that place, every leaf of
our model must be filled exactly once, and a tensor left over (outside the detector's declared
train-only parts) means the file is not that detector. Each of these ends in one line naming the
file and the first key that does not fit.

Layout conversions (PyTorch -> Flax): conv OIHW -> HWIO (a depthwise conv's [C, 1, k, k] becomes
[k, k, 1, C] by the same transpose); linear [out, in] -> [in, out]; batch norm weight, bias,
running_mean, running_var -> scale, bias / mean, var.
"""
import os

import numpy as np

from fakedetect_jax.errors import FakedetectError


class CheckpointError(FakedetectError, ValueError):
  """A checkpoint that cannot be read, or is not the detector it is imported as."""


def read_state_dict(path):
  """{key: float32/int numpy array} of a torch.save'd state dict, 'module.' prefixes removed."""
  if not os.path.isfile(path):
    raise CheckpointError(f"{path}: no such file (expected a DeepfakeBench .pth checkpoint)")
  import torch
  try:
    obj = torch.load(path, map_location="cpu", weights_only=True)
  except Exception as e:  # pickle, zip and weights_only refusals all land here
    raise CheckpointError(f"{path}: not a PyTorch state dict that torch.load(weights_only=True) "
                          f"reads ({_reason(e)})") from None
  # Some releases wrap the state dict ({'state_dict': ...}, {'model': ...}).
  for wrapper in ("state_dict", "model"):
    if isinstance(obj, dict) and set(obj) == {wrapper} and isinstance(obj[wrapper], dict):
      obj = obj[wrapper]
  if not isinstance(obj, dict) or not obj:
    raise CheckpointError(f"{path}: expected a state dict (tensors by name), got "
                          f"{type(obj).__name__}")
  out = {}
  for key, value in obj.items():
    if not isinstance(value, torch.Tensor):
      raise CheckpointError(f"{path}: entry {key!r} is a {type(value).__name__}, not a tensor "
                            f"(not a state dict)")
    name = key[len("module."):] if key.startswith("module.") else key
    out[name] = value.detach().cpu().float().numpy() if value.is_floating_point() else (
        value.detach().cpu().numpy())
  return out


def _reason(e):
  # torch wraps the unpickler's complaint in a paragraph of advice; keep the complaint.
  text = str(e)
  if "WeightsUnpickler error:" in text:
    text = text.split("WeightsUnpickler error:", 1)[1].strip().split("\n\n")[0]
    return f"refused by the weights-only unpickler: {text.strip()}"
  return f"{type(e).__name__}: {(text.strip().splitlines() or [''])[0][:160]}"


def _flatten(tree, prefix=()):
  for k, v in tree.items():
    if isinstance(v, dict):
      yield from _flatten(v, prefix + (k,))
    else:
      yield "/".join(prefix + (k,)), v


class Mapper:
  """Fills the variables of our model (shapes from `abstract`, e.g. jax.eval_shape of init) from
  the tensors of one checkpoint. Flax paths are 'params/Conv_0/kernel'-style strings; helpers
  take the module path without collection and leaf ('_ConvBlock_0/Conv_0'). `model_kwargs`:
  the fields our model is built with (a shrunk test model's width, depth, ...)."""

  def __init__(self, path, detector, tensors, abstract, model_kwargs=None):
    self.path, self.detector, self.tensors = path, detector, tensors
    self.model_kwargs = dict(model_kwargs or {})
    self.target = dict(
        _flatten({k: abstract[k] for k in ("params", "batch_stats") if k in abstract}))
    self.out, self.read = {}, set()

  def fail(self, text):
    """Raises the one-line CheckpointError naming the file (for the mapping functions too)."""
    raise CheckpointError(f"{self.path}: {text} (is it a DeepfakeBench {self.detector} "
                          f"checkpoint?)")

  def has(self, key):
    return key in self.tensors

  def tensor(self, key):
    if key not in self.tensors:
      self.fail(f"no tensor {key!r}, which the {self.detector} detector has")
    self.read.add(key)
    return self.tensors[key]

  def put(self, flax_path, value, key):
    """Sets one leaf of our model from `value` (already in Flax layout), taken from `key`."""
    if flax_path not in self.target:
      raise KeyError(f"mapping error: our model has no {flax_path!r} (for {key!r})")
    if flax_path in self.out:
      raise KeyError(f"mapping error: {flax_path!r} set twice (second from {key!r})")
    want = tuple(self.target[flax_path].shape)
    if tuple(value.shape) != want:
      self.fail(
          f"{key!r} has shape {tuple(self.tensors[key].shape) if key in self.tensors else value.shape}, "
          f"which does not fit {flax_path} {want}")
    self.out[flax_path] = np.asarray(value, np.float32)

  def conv(self, module, key, zero_bias=True):
    """A torch Conv2d (weight [O, I/groups, kh, kw], optional bias) into module/kernel, bias.
    A conv without bias in the checkpoint gets a zero bias where our module has one."""
    w = self.tensor(key + ".weight")
    if w.ndim != 4:
      self.fail(f"{key + '.weight'!r} has shape {w.shape}, expected a conv kernel [O, I, kh, kw]")
    self.put(f"params/{module}/kernel", w.transpose(2, 3, 1, 0), key + ".weight")
    bias_path = f"params/{module}/bias"
    if self.has(key + ".bias"):
      self.put(bias_path, self.tensor(key + ".bias"), key + ".bias")
    elif bias_path in self.target and zero_bias:
      self.put(bias_path, np.zeros(self.target[bias_path].shape, np.float32), key + ".weight")

  def dense(self, module, key, weight=None):
    """A torch Linear into module/kernel, bias; `weight` replaces the checkpoint's weight
    (e.g. one permuted to our flatten order)."""
    w = self.tensor(key + ".weight") if weight is None else weight
    if w.ndim != 2:
      self.fail(f"{key + '.weight'!r} has shape {w.shape}, expected a linear layer [out, in]")
    self.put(f"params/{module}/kernel", w.T, key + ".weight")
    if self.has(key + ".bias"):
      self.put(f"params/{module}/bias", self.tensor(key + ".bias"), key + ".bias")

  def logit(self, module, key):
    """DeepfakeBench's 2-class linear head as our one-logit head: fake probability
    softmax(z)[:, 1] = sigmoid(z1 - z0), so the logit is row 1 minus row 0."""
    w, b = self.tensor(key + ".weight"), self.tensor(key + ".bias")
    if w.ndim != 2 or w.shape[0] != 2:
      self.fail(f"{key + '.weight'!r} has shape {w.shape}, expected a 2-class head [2, C]")
    self.put(f"params/{module}/kernel", (w[1] - w[0])[:, None], key + ".weight")
    self.put(f"params/{module}/bias", (b[1:] - b[:1]), key + ".bias")

  def bn(self, module, key):
    """A torch BatchNorm2d into params module/{scale,bias} and batch_stats module/{mean,var}
    (a batch norm shared by two of our modules is simply read twice)."""
    self.put(f"params/{module}/scale", self.tensor(key + ".weight"), key + ".weight")
    self.put(f"params/{module}/bias", self.tensor(key + ".bias"), key + ".bias")
    self.put(f"batch_stats/{module}/mean", self.tensor(key + ".running_mean"),
             key + ".running_mean")
    self.put(f"batch_stats/{module}/var", self.tensor(key + ".running_var"), key + ".running_var")
    if self.has(key + ".num_batches_tracked"):
      self.read.add(key + ".num_batches_tracked")

  def finish(self, unused_prefixes=()):
    """The filled variables {'params', 'batch_stats'}; fails on a leaf left empty (a mapping
    bug) or on a checkpoint tensor nobody took (not this detector's file)."""
    empty = [p for p in self.target if p not in self.out]
    if empty:
      raise KeyError(f"mapping error: {len(empty)} leaves of our model not filled, first "
                     f"{empty[0]!r}")
    extra = [
        k for k in self.tensors
        if k not in self.read and not k.endswith(".num_batches_tracked") and not any(
            k == p or k.startswith(p + ".") for p in unused_prefixes)
    ]
    if extra:
      self.fail(f"{extra[0]!r} does not fit the {self.detector} detector (first of "
                f"{len(extra)} tensors it does not have)")
    tree = {}
    for p, v in self.out.items():
      *parents, leaf = p.split("/")
      node = tree
      for q in parents:
        node = node.setdefault(q, {})
      node[leaf] = v
    return tree
