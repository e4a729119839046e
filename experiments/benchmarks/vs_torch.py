"""The project's Flax detectors against the same architectures in PyTorch, side by side.

    python experiments/benchmarks/vs_torch.py                # the four models below
    python experiments/benchmarks/vs_torch.py --models meso4 --rounds 7
    python experiments/benchmarks/vs_torch.py --tiny         # CI: seconds, figures printed only

MesoNet-4, MesoInception-4, Xception and EfficientNet-B4 are written below in PyTorch from the
papers (Afchar et al. 2018; Chollet 2017 as in Keras Applications; Tan and Le 2019 as in Keras
Applications, B4's width 1.4 and depth 1.8), the Flax ones are `fakedetect_jax.models.get_model`.
Both train with Adam (lr 1e-3) on one-logit binary cross-entropy, on the same batch of
256x256x3 images (MesoNets batch 32, Xception and EfficientNet-B4 batch 8; EfficientNet-B4 in
PyTorch's channels-last layout, its fast one), and time inference (eval mode, no gradient).

The machine is noisy (docs/performance.md: +-30% between runs), so the two frameworks run
alternately, `--steps` steps each per round for `--rounds` rounds, and the figure is the median
of the per-round step times. PyTorch runs with 1 and with 2 threads in each round and the faster
is compared: under load from other processes its OpenMP barriers wait for descheduled threads
(a tiny Meso4 step took 30x longer), which XLA's work-stealing pool does not.
Achieved FLOP/s uses XLA's FLOP count of the Flax step (the same
architecture, so the same work in PyTorch) against a float32 matmul ceiling measured in this run
(the better of XLA and PyTorch on a 2048^2 matmul).

PyTorch is an optional dependency (`pip install -e ".[bench]"`, the CPU build torch==2.13.0);
without it only the Flax half runs and the script says so.
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from fakedetect_jax import config_lib, models  # noqa: E402
from fakedetect_jax.train import state as state_lib  # noqa: E402
from fakedetect_jax.train.step import make_eval_step, make_train_step  # noqa: E402

try:
  import torch
  from torch import nn
  import torch.nn.functional as F
except ImportError:  # the Flax half still runs
  torch = None

# The models written below in PyTorch: name -> channels_last (PyTorch's faster layout for it).
# Batches are the specs' bench_batch (models.REGISTRY): MesoNets 32, the others 8.
MODELS = {"meso4": False, "mesoinception4": False, "xception": False, "efficientnet_b4": True}

# ------------------------------------------------------------------------------------------
# PyTorch models, from the papers (layer for layer the Keras models the Flax ones follow).

if torch is not None:

  class TorchMeso4(nn.Module):

    def __init__(self, size=256):
      super().__init__()
      blocks, c = [], 3
      for f, k, p in ((8, 3, 2), (8, 5, 2), (16, 5, 2), (16, 5, 4)):
        blocks += [
            nn.Conv2d(c, f, k, padding=k // 2),
            nn.ReLU(),
            nn.BatchNorm2d(f, eps=1e-3),
            nn.MaxPool2d(p, p, ceil_mode=True)
        ]
        c = f
      self.features = nn.Sequential(*blocks)
      self.head = _MesoHead(16 * _ceil_div(size, 32)**2)

    def forward(self, x):
      return self.head(self.features(x))

  class _MesoHead(nn.Module):

    def __init__(self, n):
      super().__init__()
      self.net = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(n, 16), nn.LeakyReLU(0.1),
                               nn.Dropout(0.5), nn.Linear(16, 1))

    def forward(self, x):
      return self.net(x)[:, 0]

  class _Inception(nn.Module):

    def __init__(self, c, a, b, cc, d):
      super().__init__()
      self.b1 = nn.Conv2d(c, a, 1)
      self.b2 = nn.Sequential(nn.Conv2d(c, b, 1), nn.ReLU(), nn.Conv2d(b, b, 3, padding=1))
      self.b3 = nn.Sequential(
          nn.Conv2d(c, cc, 1), nn.ReLU(), nn.Conv2d(cc, cc, 3, padding=2, dilation=2))
      self.b4 = nn.Sequential(
          nn.Conv2d(c, d, 1), nn.ReLU(), nn.Conv2d(d, d, 3, padding=3, dilation=3))

    def forward(self, x):
      return torch.cat(
          [F.relu(self.b1(x)),
           F.relu(self.b2(x)),
           F.relu(self.b3(x)),
           F.relu(self.b4(x))], 1)

  class TorchMesoInception4(nn.Module):

    def __init__(self, size=256):
      super().__init__()
      self.features = nn.Sequential(
          _Inception(3, 1, 4, 4, 2), nn.BatchNorm2d(11, eps=1e-3),
          nn.MaxPool2d(2, 2, ceil_mode=True), _Inception(11, 2, 4, 4, 2),
          nn.BatchNorm2d(12, eps=1e-3), nn.MaxPool2d(2, 2, ceil_mode=True),
          nn.Conv2d(12, 16, 5, padding=2), nn.ReLU(), nn.BatchNorm2d(16, eps=1e-3),
          nn.MaxPool2d(2, 2, ceil_mode=True), nn.Conv2d(16, 16, 5, padding=2), nn.ReLU(),
          nn.BatchNorm2d(16, eps=1e-3), nn.MaxPool2d(4, 4, ceil_mode=True))
      self.head = _MesoHead(16 * _ceil_div(size, 32)**2)

    def forward(self, x):
      return self.head(self.features(x))

  class _SepConv(nn.Sequential):

    def __init__(self, c, f):
      super().__init__(
          nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False), nn.Conv2d(c, f, 1, bias=False))

  def _bn(c):
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)

  class _XBlock(nn.Module):
    """Entry/exit-flow block: [relu] sep bn relu sep bn, max-pool, + 1x1 stride-2 shortcut."""

    def __init__(self, c, f1, f2, first_relu):
      super().__init__()
      self.skip = nn.Sequential(nn.Conv2d(c, f2, 1, stride=2, bias=False), _bn(f2))
      self.first_relu = first_relu
      self.s1, self.b1 = _SepConv(c, f1), _bn(f1)
      self.s2, self.b2 = _SepConv(f1, f2), _bn(f2)
      self.pool = nn.MaxPool2d(3, 2, padding=1)

    def forward(self, x):
      y = F.relu(x) if self.first_relu else x
      y = self.b2(self.s2(F.relu(self.b1(self.s1(y)))))
      return self.pool(y) + self.skip(x)

  class _XMiddle(nn.Module):

    def __init__(self, c=728):
      super().__init__()
      self.layers = nn.ModuleList(
          [nn.Sequential(nn.ReLU(), _SepConv(c, c), _bn(c)) for _ in range(3)])

    def forward(self, x):
      y = x
      for layer in self.layers:
        y = layer(y)
      return y + x

  class TorchXception(nn.Module):

    def __init__(self, size=256):
      super().__init__()
      self.stem = nn.Sequential(
          nn.Conv2d(3, 32, 3, stride=2, bias=False), _bn(32), nn.ReLU(),
          nn.Conv2d(32, 64, 3, bias=False), _bn(64), nn.ReLU())
      self.entry = nn.Sequential(
          _XBlock(64, 128, 128, False), _XBlock(128, 256, 256, True), _XBlock(256, 728, 728, True))
      self.middle = nn.Sequential(*[_XMiddle() for _ in range(8)])
      self.exit = _XBlock(728, 728, 1024, True)
      self.top = nn.Sequential(
          _SepConv(1024, 1536), _bn(1536), nn.ReLU(), _SepConv(1536, 2048), _bn(2048), nn.ReLU())
      self.drop, self.fc = nn.Dropout(0.5), nn.Linear(2048, 1)

    def forward(self, x):
      x = self.top(self.exit(self.middle(self.entry(self.stem(x)))))
      return self.fc(self.drop(x.mean((2, 3))))[:, 0]

  class _MBConv(nn.Module):

    def __init__(self, k, f_in, f_out, expand, stride, drop):
      super().__init__()
      f = f_in * expand
      self.expand = (
          nn.Sequential(nn.Conv2d(f_in, f, 1, bias=False), _bn(f), nn.SiLU())
          if expand != 1 else nn.Identity())
      self.dw = nn.Sequential(
          nn.Conv2d(f, f, k, stride, padding=k // 2, groups=f, bias=False), _bn(f), nn.SiLU())
      se = max(1, int(f_in * 0.25))
      self.se = nn.Sequential(
          nn.AdaptiveAvgPool2d(1), nn.Conv2d(f, se, 1), nn.SiLU(), nn.Conv2d(se, f, 1),
          nn.Sigmoid())
      self.project = nn.Sequential(nn.Conv2d(f, f_out, 1, bias=False), _bn(f_out))
      self.residual = stride == 1 and f_in == f_out
      self.drop = drop

    def forward(self, x):
      y = self.dw(self.expand(x))
      y = self.project(y * self.se(y))
      if self.residual:
        if self.training and self.drop > 0:  # stochastic depth, per example
          keep = (torch.rand(y.shape[0], 1, 1, 1) >= self.drop).to(y.dtype)
          y = y * keep / (1 - self.drop)
        y = y + x
      return y

  class TorchEfficientNet(nn.Module):

    def __init__(self, variant="b4", size=256):
      super().__init__()
      from fakedetect_jax.models import efficientnet as eff
      width, depth, _, dropout = eff.VARIANTS[variant]
      stem = eff.round_filters(32, width)
      self.stem = nn.Sequential(
          nn.Conv2d(3, stem, 3, 2, padding=1, bias=False), _bn(stem), nn.SiLU())
      plan = eff.block_plan(width, depth)
      self.blocks = nn.Sequential(*[
          _MBConv(k, f_in, f_out, e, s, 0.2 * b / len(plan))
          for b, (_, k, f_in, f_out, e, s) in enumerate(plan)
      ])
      top = eff.round_filters(1280, width)
      self.top = nn.Sequential(nn.Conv2d(plan[-1][3], top, 1, bias=False), _bn(top), nn.SiLU())
      self.drop, self.fc = nn.Dropout(dropout), nn.Linear(top, 1)

    def forward(self, x):
      x = self.top(self.blocks(self.stem(x)))
      return self.fc(self.drop(x.mean((2, 3))))[:, 0]

  TORCH_MODELS = {
      "meso4": TorchMeso4,
      "mesoinception4": TorchMesoInception4,
      "xception": TorchXception,
      "efficientnet_b4": TorchEfficientNet
  }


def _ceil_div(a, b):
  return -(-a // b)


# ------------------------------------------------------------------------------------------
# Runners: each returns (train_step(), infer_step()) closures that block until done.


def torch_runner(name, batch, size, channels_last, seed=0):
  torch.manual_seed(seed)
  model = TORCH_MODELS[name](size=size)
  g = torch.Generator().manual_seed(seed)
  x = torch.rand(batch, 3, size, size, generator=g) * 2 - 1
  y = (torch.rand(batch, generator=g) > 0.5).float()
  if channels_last:
    model = model.to(memory_format=torch.channels_last)
    x = x.contiguous(memory_format=torch.channels_last)
  opt = torch.optim.Adam(model.parameters(), lr=1e-3)
  loss_fn = nn.BCEWithLogitsLoss()

  def train():
    model.train()
    opt.zero_grad(set_to_none=True)
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    return float(loss.detach())

  def infer():
    model.eval()
    with torch.inference_mode():
      return model(x).sum().item()

  params = sum(p.numel() for p in model.parameters() if p.requires_grad)
  return train, infer, params


def flax_runner(name, batch, size, dtype="float32", seed=0):
  config = config_lib.base_config()
  config.batch_size = batch
  config.compute_dtype = dtype
  config.augment.flip, config.augment.brightness = False, 0.0  # the torch side has none
  config.optimizer.schedule = "constant"
  mesh = state_lib.make_mesh()
  model = models.get_model(name, dtype=jnp.dtype(dtype))
  tx = state_lib.make_optimizer(config.optimizer, 1000, state_lib.trainable_pattern(config))
  rep, data = state_lib.replicated(mesh), state_lib.batch_sharding(mesh)
  state = jax.jit(lambda: state_lib.create_state(model, tx, size, seed), out_shardings=rep)()
  rng = np.random.default_rng(seed)
  images = jax.device_put(rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8), data)
  batch_ = {
      "inputs": {
          "image": images
      },
      "labels": jax.device_put(rng.integers(0, 2, batch, np.int32), data)
  }
  key = jax.random.key(seed)
  t = time.perf_counter()
  step = make_train_step(model, tx, config, mesh).lower(state, batch_, key).compile()
  eval_step = make_eval_step(model, config, mesh).lower(state, {"image": images}).compile()
  compile_s = time.perf_counter() - t
  holder = {"state": state}

  def train():
    holder["state"], m = step(holder["state"], batch_, key)
    return float(m["loss_sum"])

  def infer():
    return float(eval_step(holder["state"], {"image": images}).sum())

  params = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(state.params))
  return train, infer, params, compile_s, _flops(step), _flops(eval_step)


def _flops(compiled):
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost.get("flops", 0.0)) if cost else 0.0


def matmul_ceiling(n=2048, repeats=5):
  """Float32 matmul FLOP/s: the better of XLA and PyTorch (best of `repeats` each)."""
  a = jnp.ones((n, n), jnp.float32)
  f = jax.jit(lambda x: x @ x)
  f(a).block_until_ready()
  best = {"xla": min(_timed(lambda: f(a).block_until_ready()) for _ in range(repeats))}
  if torch is not None:
    t = torch.ones(n, n)
    for threads in sorted({1, os.cpu_count() or 1}):
      torch.set_num_threads(threads)
      t @ t
      best[f"torch{threads}t"] = min(_timed(lambda: t @ t) for _ in range(repeats))
  return {k: 2 * n**3 / v for k, v in best.items()}


def _timed(fn):
  t = time.perf_counter()
  fn()
  return time.perf_counter() - t


def alternate(fns, rounds, steps):
  """{key: median over rounds of the mean step time}, the fns run in turn each round.

  Each turn starts with one untimed call: the first XLA step after PyTorch's ran ~1.5x slower
  than the next (Xception, 256 px: 6.4-7.4 s, then 4.6 s; PyTorch showed no such effect), which
  is the switch between frameworks in one process, not either framework's speed.
  """
  times = {k: [] for k in fns}
  for _ in range(rounds):
    for k, fn in fns.items():
      fn()
      times[k].append(_timed(lambda: [fn() for _ in range(steps)]) / steps)
  return {k: statistics.median(v) for k, v in times.items()}


def _with_threads(fn, n):

  def run():
    torch.set_num_threads(n)
    return fn()

  return run


def compare(name, batch, size, channels_last, rounds, steps, dtype="float32", torch_threads=(1, 2)):
  r = {"model": name, "batch": batch, "size": size}
  ftrain, finfer, r["flax_params"], r["flax_compile_s"], tflops, iflops = flax_runner(
      name, batch, size, dtype)
  fns_train, fns_infer = {"flax": ftrain}, {"flax": finfer}
  if torch is not None:
    ttrain, tinfer, r["torch_params"] = torch_runner(name, batch, size, channels_last)
    for n in torch_threads:
      fns_train[f"torch{n}"] = _with_threads(ttrain, n)
      fns_infer[f"torch{n}"] = _with_threads(tinfer, n)
  for fns in (fns_train, fns_infer):  # warm up (first steps allocate, autotune)
    for fn in fns.values():
      fn()
      fn()
  train = alternate(fns_train, rounds, steps)
  infer = alternate(fns_infer, rounds, max(steps, 2))
  if torch is not None:  # PyTorch at its better thread count, for each of train and infer
    for times, kind in ((train, "train"), (infer, "infer")):
      best = min((k for k in times if k.startswith("torch")), key=times.get)
      r[f"torch_{kind}_threads"] = int(best[5:])
      r.update(
          {f"torch{n}_{kind}_examples_per_s": batch / times[f"torch{n}"] for n in torch_threads})
      times["torch"] = times[best]
      for n in torch_threads:
        del times[f"torch{n}"]
  for k in train:
    r[f"{k}_train_examples_per_s"] = batch / train[k]
    r[f"{k}_infer_examples_per_s"] = batch / infer[k]
    r[f"{k}_train_flops_per_s"] = tflops / train[k]
    r[f"{k}_infer_flops_per_s"] = iflops / infer[k]
  if torch is not None:
    r["train_ratio"] = train["torch"] / train["flax"]
    r["infer_ratio"] = infer["torch"] / infer["flax"]
  r["train_flops"], r["infer_flops"] = tflops, iflops
  return r


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument(
      "--models", default=",".join(MODELS), help="comma-separated, of " + ", ".join(MODELS))
  p.add_argument("--size", type=int, default=256)
  p.add_argument("--batch", type=int, help="override every model's batch")
  p.add_argument("--rounds", type=int, default=5)
  p.add_argument("--steps", type=int, default=2, help="steps per framework per round")
  p.add_argument(
      "--dtype",
      default="float32",
      choices=["float32", "bfloat16"],
      help="Flax compute dtype (PyTorch stays float32)")
  p.add_argument(
      "--torch_threads",
      default=f"1,{os.cpu_count() or 1}",
      help="PyTorch thread counts to try; its best is the one compared")
  p.add_argument(
      "--tiny",
      action="store_true",
      help="CI smoke run: Meso4 (or --models) at 64 px, batch 4, 2 rounds of 1 step")
  p.add_argument("--json", help="write every model's figures here")
  args = p.parse_args(argv)
  names = args.models.split(",")
  unknown = sorted(set(names) - set(MODELS))
  if unknown:
    p.error(f"unknown models {unknown}; choose from {', '.join(MODELS)}")
  if args.tiny:
    if args.models == p.get_default("models"):
      names = ["meso4"]
    args.size, args.batch, args.rounds, args.steps = 64, args.batch or 4, 2, 1
  if torch is None:
    print("PyTorch is not installed (pip install -e \".[bench]\"): running the Flax half only")
  else:
    threads = tuple(sorted({int(n) for n in args.torch_threads.split(",")}))
    print(f"torch {torch.__version__}, tried with {' and '.join(map(str, threads))} threads "
          "(OpenMP's barriers suffer on a shared machine; the faster count is compared)")
  ceiling = matmul_ceiling(512 if args.tiny else 2048)
  peak = max(ceiling.values())
  print(f"jax {jax.__version__}, {jax.device_count()} x {jax.devices()[0].platform}; float32 "
        "matmul ceiling " + ", ".join(f"{k} {v / 1e9:.1f}" for k, v in ceiling.items()) +
        " GFLOP/s")
  print(f"{args.rounds} rounds x {args.steps} steps, alternating; medians. ratio = Flax / PyTorch; "
        f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
  print("| model | batch | size | params flax / torch | train ex/s flax | torch | ratio "
        "| infer ex/s flax | torch | ratio | train FLOP/s flax / torch (of ceiling) "
        "| infer FLOP/s flax / torch (of ceiling) | compile s |")
  print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
  results = []
  for name in names:
    batch, channels_last = models.REGISTRY[name].bench_batch, MODELS[name]
    r = compare(name, args.batch or batch, args.size, channels_last, args.rounds, args.steps,
                args.dtype, threads if torch is not None else ())
    results.append(r)
    g = lambda k: r.get(k)
    fmt = lambda v, f=".1f": "-" if v is None else format(v, f)
    frac = lambda k: ("-" if g(k) is None else f"{g(k) / 1e9:.1f} G ({100 * g(k) / peak:.0f}%)")
    th = lambda kind: f" ({g(f'torch_{kind}_threads')}t)" if g(f"torch_{kind}_threads") else ""
    print(
        f"| {name} | {r['batch']} | {r['size']} | {r['flax_params']:,} / "
        f"{fmt(g('torch_params'), ',')} | {fmt(g('flax_train_examples_per_s'))} | "
        f"{fmt(g('torch_train_examples_per_s'))}{th('train')} | {fmt(g('train_ratio'), '.2f')} | "
        f"{fmt(g('flax_infer_examples_per_s'))} | {fmt(g('torch_infer_examples_per_s'))}"
        f"{th('infer')} | "
        f"{fmt(g('infer_ratio'), '.2f')} | {frac('flax_train_flops_per_s')} / "
        f"{frac('torch_train_flops_per_s')} | {frac('flax_infer_flops_per_s')} / "
        f"{frac('torch_infer_flops_per_s')} | {r['flax_compile_s']:.1f} |",
        flush=True)
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"ceiling_flops_per_s": ceiling, "results": results}, f, indent=2)
  return results


if __name__ == "__main__":
  main()
