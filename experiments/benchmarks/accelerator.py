"""One-shot accelerator benchmark: bf16 train and inference speed, MFU, compile time, input wait.

    python experiments/benchmarks/accelerator.py                 # on one GPU or TPU host
    python experiments/benchmarks/accelerator.py --models meso4,vit_b16 --steps 50 --json out.json
    python experiments/benchmarks/accelerator.py --tiny --json out.json   # CI smoke run on CPU

For each model (default: meso4, xception, efficientnet_b4, vit_b16), at its spec's default_size,
in bfloat16 (config.compute_dtype), at --batch_per_device (64) on every device of the host (the
global batch is 64 x jax.device_count(), data-parallel over a 1-D mesh exactly as training runs):

  train ex/s      global batch / step time, over --steps steps after --warmup warm-up steps,
                  in the train loop's own way (at most 2 steps in flight); also per device.
  infer ex/s      the eval step (make_eval_step) on one batch, --steps calls back to back.
  MFU             XLA's cost analysis of the compiled train step (FLOPs per device per step; the
                  partitioned program is one device's share) / step time / the device's peak
                  bf16 FLOP/s: a datasheet figure by jax.devices()[0].device_kind (PEAK_BF16),
                  or, on CPU or a kind not in the table, a bf16 matmul timed in this run
                  (peak_source 'measured'; the table says so).
  compile s       lowering + compiling the train step, cold (the persistent compilation cache is
                  off for this run).
  input wait      the share of the timed steps' wall time the loop spent waiting for its next
                  batch, as the train loop logs it (input_wait_frac).

Batches come through the real input path: the train split of the embedded synthetic_av dataset
(--data_config, default `small`; prepared once in --data_dir on first use) opened with
input_lib.open_split, read in Grain worker processes (--workers, default every core) by
input_lib.TrainBatches with the default host-side augmentation config, resized there from the
stored face crops (128 px in `small`) to the model's size, and put on the devices as global
arrays sharded over the mesh.

--tiny (a CI smoke run on CPU): meso4 and a narrow vit_b16 (TINY_VIT) at
32 px, batch 2 per device, 1 warm-up and 2 timed steps, the `tiny` synthetic_av config.

JSON (--json OUT): {"records": [one per model, keys RECORD_KEYS and a few more], "failed":
{model: error}, "device_kind", "peak_flops", "peak_source", ...}. A model that fails (e.g. out
of device memory) is reported and the others still run; the exit status is then 1.
"""
import argparse
import collections
import gc
import json
import pathlib
import re
import sys
import time
import traceback

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

DEFAULT_MODELS = ("meso4", "xception", "efficientnet_b4", "vit_b16")
DEFAULT_DATA_DIR = pathlib.Path.home() / ".cache" / "fakedetect_jax" / "bench_data"
# The narrow ViT of --tiny (ViT model fields): a 4x4 grid of 8 px patches at 32 px.
TINY_VIT = dict(dim=32, depth=2, heads=2, patch=8)

# Dense (no sparsity) bf16 FLOP/s of one jax device, from the vendors' datasheets, matched
# against jax.devices()[0].device_kind in order (first match wins). A TPU v4 / v5p device is a
# whole chip (megacore); v5e and v6e chips have one TensorCore.
PEAK_BF16 = (
    (r"A100", 312e12, "A100"),
    (r"H100.*(HBM3|SXM)", 989e12, "H100 SXM"),
    (r"H100.*PCIe", 756e12, "H100 PCIe"),
    (r"H100.*NVL", 835e12, "H100 NVL"),
    (r"H200", 989e12, "H200 / GH200"),
    (r"L40S", 362e12, "L40S"),
    (r"\bL4\b", 121e12, "L4"),
    (r"TPU v4$", 275e12, "TPU v4"),
    (r"TPU v5 ?(lite|e)$", 197e12, "TPU v5e"),
    (r"TPU v5 ?p?$", 459e12, "TPU v5p"),
    (r"TPU v6 ?(lite|e)$", 918e12, "TPU v6e"),
)

RECORD_KEYS = ("model", "size", "batch", "devices", "device_kind", "train_examples_per_s",
               "train_examples_per_s_per_device", "infer_examples_per_s", "mfu", "peak_flops",
               "peak_source", "train_flops_per_example", "compile_s", "input_wait_frac")


def datasheet_peak(device_kind):
  """(FLOP/s, name) of device_kind from PEAK_BF16, or None."""
  for pattern, flops, label in PEAK_BF16:
    if re.search(pattern, device_kind, re.IGNORECASE):
      return flops, label
  return None


def matmul_peak(sizes, repeats=5):
  """The best bf16 matmul FLOP/s of one device through XLA over square sizes (best of repeats)."""
  import jax
  import jax.numpy as jnp
  f = jax.jit(lambda x: x @ x)
  best = 0.0
  for n in sizes:
    a = jnp.ones((n, n), jnp.bfloat16)
    f(a).block_until_ready()
    for _ in range(repeats):
      t = time.perf_counter()
      f(a).block_until_ready()
      best = max(best, 2 * n**3 / (time.perf_counter() - t))
  return best


def device_peak(tiny):
  """(peak bf16 FLOP/s per device, 'datasheet' | 'measured', a note for the table)."""
  import jax
  device = jax.devices()[0]
  found = None if device.platform == "cpu" else datasheet_peak(device.device_kind)
  if found:
    return found[0], "datasheet", f"{found[1]} datasheet, dense bf16"
  sizes = (256, 512) if tiny else (512, 1024) if device.platform == "cpu" else (4096, 8192)
  why = "CPU" if device.platform == "cpu" else f"{device.device_kind!r} is not in PEAK_BF16"
  return (matmul_peak(sizes), "measured",
          f"measured: best bf16 matmul of {' / '.join(map(str, sizes))} in this run ({why}); "
          f"MFU is against that, not a datasheet figure")


def spec_field(spec, name, fallback, notes):
  """spec.<name>, or `fallback` (noted) where this ModelSpec has no such field."""
  if hasattr(spec, name):
    return getattr(spec, name)
  notes.append(f"ModelSpec has no field {name!r}" +
               (f"; used {fallback!r}" if fallback is not None else ""))
  return fallback


def run_config(name, size, args, model_fields):
  from fakedetect_jax import config_lib
  import ml_collections
  c = config_lib.base_config()
  c.model = ml_collections.ConfigDict({"name": name, **model_fields})  # the model's own defaults
  c.compute_dtype = "bfloat16"
  c.data.dataset, c.data.config, c.data.data_dir = "synthetic_av", args.data_config, args.data_dir
  c.data.image_size = size
  c.data.workers = args.workers
  return c


def build_model(config, notes):
  import jax.numpy as jnp
  from fakedetect_jax import models
  if hasattr(models, "from_config"):
    return models.from_config(config)
  notes.append("models.from_config is missing; built with models.get_model")
  fields = {k: v for k, v in config.model.items() if k != "name"}
  return models.get_model(config.model.name, dtype=jnp.dtype(config.compute_dtype), **fields)


def _flops(stage):
  cost = stage.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) and cost else cost
  return float(cost.get("flops", 0.0)) if cost else 0.0


def benchmark(name, args, peak, peak_source, model_fields):
  """One model's record (RECORD_KEYS plus extras)."""
  import jax
  from fakedetect_jax import input as input_lib, models
  from fakedetect_jax.input import views
  from fakedetect_jax.train import state as state_lib
  from fakedetect_jax.train.step import make_eval_step, make_train_step

  notes = []
  spec = models.REGISTRY[name]
  size = args.size or spec_field(spec, "default_size", None, notes) or spec_field(
      spec, "bench_size", 224, notes)
  view = spec_field(spec, "view", "frames", notes)
  config = run_config(name, size, args, model_fields)
  config.data.view = view
  devices = jax.device_count()
  batch = args.batch_per_device * devices
  config.batch_size = batch
  model = build_model(config, notes)
  t = time.perf_counter()
  source = input_lib.open_split(config.data, config.data.train_split)
  open_s = time.perf_counter() - t

  mesh = state_lib.make_mesh()
  rep, data = state_lib.replicated(mesh), state_lib.batch_sharding(mesh)
  total = args.warmup + args.steps
  tx = state_lib.make_optimizer(config.optimizer, total, state_lib.trainable_pattern(config))
  example = views.model_arg(source.example_inputs(), view)
  t = time.perf_counter()
  state = jax.jit(
      lambda: state_lib.create_state(model, tx, size, config.seed, example), out_shardings=rep)()
  rng = jax.jit(lambda: jax.random.key(config.seed + 1), out_shardings=rep)()
  jax.block_until_ready(state)
  init_s = time.perf_counter() - t
  order = input_lib.TrainOrder(source.labels, batch, config.seed, config.data.balance_classes)
  workers = input_lib.pipeline.workers(config.data)
  batches = iter(
      input_lib.TrainBatches(source, order, 0, total, data, workers, config.data.prefetch,
                             config.augment))
  t = time.perf_counter()
  _, first, _ = next(batches)  # waits for the workers to start: not part of the input wait
  first_batch_s = time.perf_counter() - t

  train_step = make_train_step(model, tx, config, mesh)
  t = time.perf_counter()
  lowered = train_step.lower(state, first, rng)
  compiled = lowered.compile()
  compile_s = time.perf_counter() - t
  # The compiled program is SPMD-partitioned: its cost is one device's share of the step. The
  # lowered (unpartitioned) one is the whole step, a fallback where a backend reports nothing.
  flops, flops_source = _flops(compiled), "compiled"
  if not flops:
    flops, flops_source = _flops(lowered) / devices, "lowered"

  state, m = compiled(state, first, rng)
  jax.block_until_ready(m)
  for _ in range(args.warmup - 1):
    _, b, _ = next(batches)
    state, m = compiled(state, b, rng)
    jax.block_until_ready(m)

  # The train loop's way (train/loop.py): at most 2 steps in flight; wait = time in next().
  wait, in_flight = 0.0, collections.deque()
  start = time.perf_counter()
  for _ in range(args.steps):
    t = time.perf_counter()
    _, b, _ = next(batches)
    wait += time.perf_counter() - t
    state, m = compiled(state, b, rng)
    in_flight.append(m)
    if len(in_flight) > 2:
      jax.block_until_ready(in_flight.popleft())
  jax.block_until_ready((state, m))
  train_s = (time.perf_counter() - start) / args.steps
  del batches
  gc.collect()  # stops the Grain worker processes before the next model starts its own

  eval_step = make_eval_step(model, config, mesh)
  inputs = b["inputs"]
  t = time.perf_counter()
  eval_compiled = eval_step.lower(state, inputs).compile()
  infer_compile_s = time.perf_counter() - t
  jax.block_until_ready(eval_compiled(state, inputs))
  start = time.perf_counter()
  for _ in range(args.steps):
    scores = eval_compiled(state, inputs)
  jax.block_until_ready(scores)
  infer_s = (time.perf_counter() - start) / args.steps

  return {
      "model": name,
      "size": size,
      "batch": batch,
      "devices": devices,
      "device_kind": jax.devices()[0].device_kind,
      "train_examples_per_s": batch / train_s,
      "train_examples_per_s_per_device": batch / train_s / devices,
      "infer_examples_per_s": batch / infer_s,
      "mfu": flops / train_s / peak,
      "peak_flops": peak,
      "peak_source": peak_source,
      "train_flops_per_example": flops / args.batch_per_device,
      "compile_s": compile_s,
      "input_wait_frac": wait / (train_s * args.steps),
      # Extras.
      "infer_examples_per_s_per_device": batch / infer_s / devices,
      "batch_per_device": args.batch_per_device,
      "train_step_s": train_s,
      "infer_step_s": infer_s,
      "infer_compile_s": infer_compile_s,
      "train_flops_per_device_step": flops,
      "flops_source": flops_source,
      "platform": jax.devices()[0].platform,
      "dtype": config.compute_dtype,
      "model_fields": dict(model_fields),
      "data": source.name,
      "workers": workers,
      "steps": args.steps,
      "warmup": args.warmup,
      "open_s": open_s,
      "init_s": init_s,
      "first_batch_s": first_batch_s,
      "notes": notes
  }


def label(r):
  fields = ", ".join(f"{k} {v}" for k, v in r["model_fields"].items())
  return f"{r['model']} ({fields})" if fields else r["model"]


def table_row(r):
  return (f"| {label(r)} | {r['size']} | {r['batch']} | {r['train_examples_per_s']:.1f} | "
          f"{r['train_examples_per_s_per_device']:.1f} | {r['infer_examples_per_s']:.1f} | "
          f"{r['infer_examples_per_s_per_device']:.1f} | {1e3 * r['train_step_s']:.1f} | "
          f"{r['train_flops_per_example'] / 1e9:.3g} | {100 * r['mfu']:.2f}% | "
          f"{r['compile_s']:.1f} | {100 * r['input_wait_frac']:.1f}% |")


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument(
      "--models",
      help=f"comma-separated registered models (default: "
      f"{','.join(DEFAULT_MODELS)}; --tiny: meso4,vit_b16)")
  p.add_argument("--batch_per_device", type=int, help="default 64 (--tiny: 2)")
  p.add_argument("--steps", type=int, help="timed steps (default 20; --tiny: 2)")
  p.add_argument(
      "--warmup",
      type=int,
      help="untimed steps first, the compiled one included "
      "(default 2; --tiny: 1)")
  p.add_argument(
      "--size",
      type=int,
      help="input pixels for every model (default: each spec's "
      "default_size; --tiny: 32)")
  p.add_argument("--data_config", help="synthetic_av config (default small; --tiny: tiny)")
  p.add_argument(
      "--data_dir",
      default=str(DEFAULT_DATA_DIR),
      help="where the benchmark's dataset is prepared (once)")
  p.add_argument("--workers", type=int, help="Grain reader processes (default: every core)")
  p.add_argument("--json", help="write the records to this file")
  p.add_argument(
      "--tiny",
      action="store_true",
      help="CI smoke run on CPU: meso4 and a narrow vit_b16 at 32 px, batch 2 per "
      "device, 2 steps, synthetic_av/tiny")
  args = p.parse_args()
  tiny = args.tiny
  names = (
      args.models.split(",")
      if args.models else ["meso4", "vit_b16"] if tiny else list(DEFAULT_MODELS))
  args.batch_per_device = args.batch_per_device or (2 if tiny else 64)
  args.steps = args.steps or (2 if tiny else 20)
  args.warmup = max(1, args.warmup if args.warmup is not None else (1 if tiny else 2))
  args.size = args.size or (32 if tiny else None)
  args.data_config = args.data_config or ("tiny" if tiny else "small")

  import jax
  from fakedetect_jax import models
  unknown = sorted(set(names) - set(models.names()))
  if unknown:
    p.error(f"unknown models {unknown}; registered: {', '.join(models.names())}")
  # compile_s is a cold compile, whatever the environment configures.
  jax.config.update("jax_enable_compilation_cache", False)

  device = jax.devices()[0]
  peak, peak_source, peak_note = device_peak(tiny)
  print(
      f"jax {jax.__version__}: {jax.device_count()} x {device.device_kind} "
      f"({device.platform}), {jax.process_count()} process(es); bfloat16, batch "
      f"{args.batch_per_device} per device; {args.warmup} warm-up + {args.steps} timed steps",
      flush=True)
  print(f"peak bf16: {peak / 1e12:.4g} TFLOP/s per device ({peak_note})", flush=True)
  print(
      f"data: synthetic_av/{args.data_config} in {args.data_dir} (prepared on first use)",
      flush=True)

  records, failed = [], {}
  for name in names:
    fields = dict(TINY_VIT) if tiny and name.startswith("vit_") else {}
    try:
      r = benchmark(name, args, peak, peak_source, fields)
    except Exception as e:  # e.g. out of device memory: report it, run the others
      traceback.print_exc()
      failed[name] = f"{type(e).__name__}: {e}"[:2000]
      print(f"{name}: FAILED ({type(e).__name__})", flush=True)
      continue
    records.append(r)
    for note in r["notes"]:
      print(f"{name}: note: {note}", flush=True)
    print(
        f"{name}: done ({r['data']}, {r['workers']} workers; opening the split "
        f"{r['open_s']:.1f} s, state init {r['init_s']:.1f} s, first batch "
        f"{r['first_batch_s']:.1f} s)",
        flush=True)
    gc.collect()

  print(f"\n{jax.device_count()} x {device.device_kind}, bfloat16; peak "
        f"{peak / 1e12:.4g} TFLOP/s per device ({peak_source})\n")
  print("| model | size | global batch | train ex/s | per device | infer ex/s | per device "
        "| step ms | train GFLOP/example | MFU | compile s | input wait |")
  print("|---|---|---|---|---|---|---|---|---|---|---|---|")
  for r in records:
    print(table_row(r))
  for name, err in failed.items():
    print(f"| {name} | failed: {err.splitlines()[0][:120]} |" + " |" * 10)
  sys.stdout.flush()

  if args.json:
    out = {
        "records": records,
        "failed": failed,
        "device_kind": device.device_kind,
        "platform": device.platform,
        "devices": jax.device_count(),
        "peak_flops": peak,
        "peak_source": peak_source,
        "peak_note": peak_note,
        "jax": jax.__version__,
        "dtype": "bfloat16",
        "batch_per_device": args.batch_per_device,
        "steps": args.steps,
        "warmup": args.warmup,
        "data_config": args.data_config
    }
    with open(args.json, "w") as f:
      json.dump(out, f, indent=2)
  if failed:
    sys.exit(1)


if __name__ == "__main__":
  main()
