"""Training throughput of the localizer on prepared dense data (the segments view, real reads).

  python experiments/benchmarks/localization.py --data_dir=/tmp/tfds            # partial_tiny
  python experiments/benchmarks/localization.py --data_config=partial --window=64 --size=48

Builds configs/localization.py's config for the dataset, opens its train split as training
does (array_record reads, JPEG decoding of the window's frames, Grain workers: --workers), and
times --steps train steps after the first (compiled) one. Prints windows (training clips) per
second, frames per second (windows x window length), the share of step time spent waiting for
input, and the compile time. synthetic_av configs are built on first use.
"""
import argparse
import importlib.util
import os
import time

import jax
import numpy as np

from fakedetect_jax import input as input_lib, models
from fakedetect_jax.input import views
from fakedetect_jax.train import state as state_lib
from fakedetect_jax.train.step import make_train_step

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _config(args):
  path = os.path.join(REPO, "configs", "localization.py")
  spec = importlib.util.spec_from_file_location("localization_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config(f"dataset={args.dataset},data_config={args.data_config},"
                        f"batch={args.batch},window={args.window},size={args.size}")
  c.data.data_dir = args.data_dir
  c.data.workers = args.workers
  return c


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--dataset", default="synthetic_av")
  p.add_argument("--data_config", default="partial_tiny")
  p.add_argument("--data_dir", default=None)
  p.add_argument("--batch", type=int, default=16)
  p.add_argument("--window", type=int, default=64)
  p.add_argument("--size", type=int, default=48)
  p.add_argument("--steps", type=int, default=20)
  p.add_argument("--workers", type=int, default=0, help="Grain reader processes (0: in process)")
  args = p.parse_args()
  c = _config(args)
  mesh = state_lib.make_mesh()
  source = input_lib.open_split(c.data, c.data.train_split)
  model = models.from_config(c)
  tx = state_lib.optimizer(c)
  example = views.model_arg(source.example_inputs(), source.view)
  state = jax.jit(
      lambda: state_lib.create_state(model, tx, c.data.image_size, 0, example),
      out_shardings=state_lib.replicated(mesh))()
  order = input_lib.TrainOrder(source.labels, c.batch_size, 0, c.data.balance_classes)
  train_step = make_train_step(model, tx, c, mesh)
  batches = iter(
      input_lib.TrainBatches(source, order, 0, args.steps + 1, state_lib.batch_sharding(mesh),
                             args.workers, c.data.prefetch))
  key = jax.random.key(0)
  _, first, _ = next(batches)
  t = time.perf_counter()
  state, m = train_step(state, first, key)
  jax.block_until_ready(m)
  compile_s = time.perf_counter() - t
  wait, start = 0.0, time.perf_counter()
  for _ in range(args.steps):
    t = time.perf_counter()
    _, batch, _ = next(batches)
    wait += time.perf_counter() - t
    state, m = train_step(state, batch, key)
    jax.block_until_ready(m)
  step_s = (time.perf_counter() - start) / args.steps
  windows = c.batch_size / step_s
  print(f"{c.data.dataset}/{c.data.config}: {len(source)} training windows of {args.window} "
        f"frames at {args.size} px, batch {c.batch_size}, {jax.device_count()} x "
        f"{jax.devices()[0].platform}")
  print(f"train: {windows:.1f} windows/s ({windows * args.window:.0f} frames/s), step "
        f"{step_s:.3f} s, input wait {100 * wait / (step_s * args.steps):.1f}%, first step "
        f"(compile) {compile_s:.1f} s, loss {float(np.asarray(m['loss_sum'])):.3f}")


if __name__ == "__main__":
  main()
