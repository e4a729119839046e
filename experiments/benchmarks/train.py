"""Training and inference speed of every registered model (or one), on this machine.

python experiments/benchmarks/train.py                 # every model at its default size
python experiments/benchmarks/train.py --model meso4 --batch 32 --size 256 --json out.json
python experiments/benchmarks/train.py --models xception,efficientnet_b4 --steps 5
python experiments/benchmarks/train.py --tiny          # CI smoke run: meso4, 32 px, seconds

Prints examples/s, step time, compile time, the share of step time spent waiting for input
(fed through the real input pipeline, Grain in-process, from memory-resident rows), achieved FLOP/s
as a fraction of a float32 matmul peak measured in the same run, and the optimizer state's size
(Adam's moments of the trainable parameters only: experiments/benchmarks/optimizer_state.py
compares the parameter-efficient detectors with full fine-tuning at full size).
"""
import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from fakedetect_jax import config_lib, input as input_lib, models
from fakedetect_jax.input import sources, views
from fakedetect_jax.train import state as state_lib
from fakedetect_jax.train.step import make_eval_step, make_train_step

# Sizes and batches are the models' specs' bench_size and bench_batch (models.REGISTRY): CNNs at
# 256 px and batch 8 as in docs/performance.md's PyTorch table (MesoNets batch 32; the zoo's big
# models do not fit batch 32 in a sensible benchmark time on 2 cores), ViTs at 224 (a 14x14
# patch grid). Video-level branches (input/views.py): the face size; each example is a clip of
# CLIP_LEN frames (and its mouth crops and log-mel windows), so examples/s counts clips.
CLIP_LEN, MOUTH, MEL_WINDOW = 16, 64, 20


def _source(name, n, size, rng):
  """A memory-resident source of n random examples in the model's view."""
  view = models.REGISTRY[name].view
  labels = rng.integers(0, 2, n).astype(np.int32)
  if view == "frames":
    return sources.in_memory({"image": rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)},
                             labels, view)
  t = CLIP_LEN
  inputs = {
      "frames": rng.integers(0, 256, (n, t, size, size, 3), dtype=np.uint8),
      "mouth": rng.integers(0, 256, (n, t, MOUTH, MOUTH), dtype=np.uint8),
      "audio": rng.normal(size=(n, t, MEL_WINDOW, 80)).astype(np.float32),
      "audio_valid": np.ones((n, t, MEL_WINDOW), np.uint8),
      "has_audio": np.ones((n,), np.uint8),
      "face_found": np.ones((n, t), np.uint8),
      "eye_aspect_ratio": np.full((n, t), 0.3, np.float32)
  }
  return sources.in_memory({k: inputs[k] for k in views.STORED_KEYS[view]}, labels, view)


def matmul_peak(n=2048, repeats=5):
  """Float32 matmul FLOP/s of this machine through XLA (best of `repeats`)."""
  a = jnp.ones((n, n), jnp.float32)
  f = jax.jit(lambda x: x @ x)
  f(a).block_until_ready()
  best = min(_timed(lambda: f(a).block_until_ready()) for _ in range(repeats))
  return 2 * n**3 / best


def _timed(fn):
  t = time.perf_counter()
  fn()
  return time.perf_counter() - t


def _flops(compiled):
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost.get("flops", 0.0)) if cost else 0.0


def benchmark(name, batch, size, steps=10, dtype="float32"):
  config = config_lib.base_config()
  config.model.name = name  # its spec's frozen parts stay out of the optimizer
  config.batch_size = batch
  config.compute_dtype = dtype
  mesh = state_lib.make_mesh()
  model = models.get_model(name, dtype=jnp.dtype(dtype))
  tx = state_lib.make_optimizer(config.optimizer, 1000, state_lib.trainable_pattern(config))
  rep, data = state_lib.replicated(mesh), state_lib.batch_sharding(mesh)
  rng = np.random.default_rng(0)
  n = 4 * batch
  source = _source(name, n, size, rng)
  config.data.view = source.view
  example = views.model_arg(source.example_inputs(), source.view)
  state = jax.jit(lambda: state_lib.create_state(model, tx, size, 0, example), out_shardings=rep)()
  order = input_lib.TrainOrder(source.labels, batch, 0)
  train_step = make_train_step(model, tx, config, mesh)
  key = jax.random.key(0)
  batches = input_lib.train_batches(source, order, 0, steps + 1, data)
  _, first = next(batches)
  t = time.perf_counter()
  compiled = train_step.lower(state, first, key).compile()
  compile_s = time.perf_counter() - t
  state, m = compiled(state, first, key)
  jax.block_until_ready(m)
  wait, start = 0.0, time.perf_counter()
  for _ in range(steps):
    t = time.perf_counter()
    _, b = next(batches)
    wait += time.perf_counter() - t
    state, m = compiled(state, b, key)
    jax.block_until_ready(m)
  train_s = (time.perf_counter() - start) / steps

  eval_step = make_eval_step(model, config, mesh)
  images = next(input_lib.eval_batches(source, batch, data))[0]
  t = time.perf_counter()
  eval_compiled = eval_step.lower(state, images).compile()
  compile_s += time.perf_counter() - t
  eval_compiled(state, images).block_until_ready()
  infer_s = min(
      _timed(lambda: eval_compiled(state, images).block_until_ready()) for _ in range(steps))
  return {
      "model": name,
      "batch": batch,
      "size": size,
      "train_examples_per_s": batch / train_s,
      "infer_examples_per_s": batch / infer_s,
      "train_step_s": train_s,
      "compile_s": compile_s,
      "input_wait_frac": wait / (train_s * steps),
      "train_flops_per_s": _flops(compiled) / train_s,
      "infer_flops_per_s": _flops(eval_compiled) / infer_s,
      "opt_state_bytes": _nbytes(state.opt_state),
  }


def _nbytes(tree):
  return sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in jax.tree.leaves(tree))


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--model", help="one registered model (default: all)")
  p.add_argument("--models", help="comma-separated registered models (default: all)")
  p.add_argument(
      "--batch",
      type=int,
      help="global batch (default: the spec's bench_batch, 32 "
      "for MesoNets, else 8)")
  p.add_argument("--size", type=int, help="input pixels (default: the spec's bench_size)")
  p.add_argument("--steps", type=int, default=10)
  p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
  p.add_argument("--json", help="write the figures of --model to this file")
  p.add_argument(
      "--tiny",
      action="store_true",
      help="CI smoke run: --model (default meso4) at 32 px, batch 4, 2 steps")
  args = p.parse_args()
  if args.tiny:
    args.model = args.model or (None if args.models else "meso4")
    args.size, args.batch, args.steps = args.size or 32, args.batch or 4, min(args.steps, 2)
  names = [args.model] if args.model else args.models.split(",") if args.models else models.names()
  unknown = sorted(set(names) - set(models.names()))
  if unknown:
    p.error(f"unknown models {unknown}; registered: {', '.join(models.names())}")
  peak = matmul_peak(512 if args.tiny else 2048)
  print(f"devices: {jax.device_count()} x {jax.devices()[0].platform}; float32 matmul peak "
        f"{peak / 1e9:.1f} GFLOP/s")
  print("| model | batch | size | train ex/s | infer ex/s | step s | compile s | input wait "
        "| train FLOP/s (of peak) | infer FLOP/s (of peak) | optimizer state MB |")
  print("|---|---|---|---|---|---|---|---|---|---|---|")
  results = []
  for name in names:
    spec = models.REGISTRY[name]
    r = benchmark(name, args.batch or spec.bench_batch, args.size or spec.bench_size, args.steps,
                  args.dtype)
    results.append(r)
    print(
        f"| {name} | {r['batch']} | {r['size']} | {r['train_examples_per_s']:.1f} | "
        f"{r['infer_examples_per_s']:.1f} | {r['train_step_s']:.3f} | {r['compile_s']:.1f} | "
        f"{100 * r['input_wait_frac']:.1f}% | {r['train_flops_per_s'] / 1e9:.1f} G "
        f"({100 * r['train_flops_per_s'] / peak:.0f}%) | {r['infer_flops_per_s'] / 1e9:.1f} G "
        f"({100 * r['infer_flops_per_s'] / peak:.0f}%) | {r['opt_state_bytes'] / 2**20:.1f} |",
        flush=True)
  if args.json:
    r = results[0]
    with open(args.json, "w") as f:
      json.dump({k: r[k] for k in ("train_examples_per_s", "infer_examples_per_s", "compile_s")},
                f,
                indent=2)


if __name__ == "__main__":
  main()
