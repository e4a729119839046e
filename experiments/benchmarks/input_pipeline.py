"""Host-side throughput of the training input path: examples/s at 256 px through TrainBatches.

    python experiments/benchmarks/input_pipeline.py [--json OUT] [--tiny] [--data_dir DIR]

Prepares (once, in --data_dir) the embedded synthetic_av dataset with 256 px face crops (config
`small`, or `tiny` with --tiny, built with the media override face_size=256), opens its train
split with input_lib.open_split and reads it through the real input_lib.TrainBatches on a
1-device mesh (batch 32, image_size 256: the stored size, so views.resize is the identity;
batches become jax Arrays as in training):
  (a) augmented: self-blending 0.5 and every distortion (jpeg, blur, noise, color, downscale)
      at 0.1, with 1 and with 2 Grain worker processes;
  (b) plain: no host-side augmentation, with 1 and 2 workers; the faster is reported.
Each run starts its own TrainBatches: 24 warm-up steps per worker (worker start and the fill
of each worker's read-ahead thread pool) are discarded, --steps are timed, 20 more per worker
are read untimed so the pipeline is as full when the window closes as when it opened. Runs
alternate (a1, a2, b1, b2, a1, ...) for --rounds rounds so a passing load on the shared
machine hits every setting alike; the median is kept. With psutil, each run also records the
CPU time of the worker processes per example: examples per worker CPU-second is what one
worker gives with a core to itself, a figure that a loaded machine does not change much.

It also profiles one worker's per-row cost in this process (record read and parse, JPEG
decode, resize, self-blending, each distortion), ms per row, on rows of the split.
--tiny is a CI smoke run (the tiny config with its stored 64 px faces, 2 timed steps): its
figures mean nothing.

JSON: {"augmented_examples_per_s": {"1": x, "2": y}, "plain_examples_per_s": z,
       "plain_workers": 1 or 2, "examples_per_worker_cpu_s": {...}, "per_row_ms": {...},
       "runs": {...}, "load_average": [...], ...}
"""
import argparse
import json
import os
import pathlib
import statistics
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

FACE_SIZE = 256
MEDIA = f"face_size={FACE_SIZE}"
DEFAULT_DATA_DIR = pathlib.Path.home() / ".cache" / "fakedetect_jax" / "bench_data"
DISTORTIONS = ("color", "blur", "downscale", "noise", "jpeg")  # augment's order


def data_config(config_name, data_dir, workers):
  from fakedetect_jax import config_lib
  c = config_lib.base_config().data
  c.dataset, c.config, c.data_dir = "synthetic_av", config_name, str(data_dir)
  c.image_size, c.view, c.workers = FACE_SIZE, "frames", workers
  return c


def augment_config(augmented):
  from fakedetect_jax import config_lib
  a = config_lib.base_config().augment
  a.update(
      dict(sbi=0.5, **dict.fromkeys(DISTORTIONS, 0.1)
          ) if augmented else dict(sbi=0.0, **dict.fromkeys(DISTORTIONS, 0.0)))
  return a


def open_train(config_name, data_dir, media=MEDIA):
  """The train Source of synthetic_av/<config>+face_size256 (built here on first use); with
  media=None, of <config> as stored (--tiny: the tests' prepared tiny config, 64 px faces)."""
  from fakedetect_jax import input as input_lib
  # The media override applies to the named config (builder_lib): the data lands in its own
  # folder (<config>+face_size256), never mixed with the default 128 / 64 px faces.
  if media:
    os.environ["FAKEDETECT_MEDIA"] = media
  source = input_lib.open_split(data_config(config_name, data_dir, 0), "train")
  shape = source[0]["inputs"]["image"].shape
  if shape != (FACE_SIZE, FACE_SIZE, 3):
    raise SystemExit(f"unexpected face crops {shape} in {source.name}")
  return source


def _cpu_seconds():
  """(this process, its descendants: Grain's workers) user + system CPU seconds, or None
  without psutil."""
  try:
    import psutil
  except ImportError:
    return None
  me = psutil.Process()
  total = lambda p: sum(p.cpu_times()[:2])
  kids = 0.0
  for child in me.children(recursive=True):
    try:
      kids += total(child)
    except psutil.Error:
      pass
  return total(me), kids


def throughput(source, workers, augmented, batch, warmup, steps, tail, seed=0):
  """Steady examples/s of TrainBatches over `steps` timed steps between `warmup` discarded
  ones and `tail` untimed ones (read to the end, so the workers stop by themselves), and the
  CPU time spent per example in that window.

  Each Grain worker computes batches ahead on a pool of threads, so the pipeline holds a
  few dozen batches in flight: the warm-up fills it and the tail keeps it as full when the
  window closes as when it opened. The rate is batch / the least-squares slope of arrival
  time over step index (the pool delivers batches in bursts; a slope over several of them
  does not depend on where the window cuts them)."""
  import jax
  import numpy as np
  from fakedetect_jax import input as input_lib
  from fakedetect_jax.train import state as state_lib
  mesh = state_lib.make_mesh(jax.devices()[:1])
  order = input_lib.TrainOrder(source.labels, batch, seed)
  batches = input_lib.TrainBatches(source, order, 0, warmup + steps + tail,
                                   state_lib.batch_sharding(mesh), workers, 2,
                                   augment_config(augmented))
  it = iter(batches)
  for _ in range(warmup):
    _, b, _ = next(it)
    jax.block_until_ready(b)
  cpu0, arrivals = _cpu_seconds(), [time.perf_counter()]
  for _ in range(steps):
    _, b, _ = next(it)
    jax.block_until_ready(b)
    arrivals.append(time.perf_counter())
  cpu1 = _cpu_seconds()
  assert b["inputs"]["image"].shape == (batch, FACE_SIZE, FACE_SIZE, 3)
  for _ in it:  # the tail
    pass
  arrivals = np.asarray(arrivals)
  wall = arrivals[-1] - arrivals[0]
  slope = np.polyfit(np.arange(len(arrivals)), arrivals, 1)[0] if steps >= 8 else wall / steps
  out = {
      "examples_per_s": batch / slope,
      "window_examples_per_s": batch * steps / wall,
      "window_s": wall
  }
  if cpu0 is not None:
    n = batch * steps
    out["main_cpu_ms_per_example"] = 1e3 * (cpu1[0] - cpu0[0]) / n
    out["worker_cpu_ms_per_example"] = 1e3 * (cpu1[1] - cpu0[1]) / n
    out["worker_cores_used"] = (cpu1[1] - cpu0[1]) / wall
  return out


def profile_rows(source, rows, repeats=1):
  """ms per row of each piece of one worker's work, on `rows` rows of the split."""
  import numpy as np
  from fakedetect_jax.input import augment, sbi, views
  cfg = augment_config(True)
  records = [source.records[int(source.row_record[i])] for i in rows]
  frames = [r["frames"][int(source.row_part[i])] for r, i in zip(records, rows)]
  images = [views.decode_jpeg(f) for f in frames]
  out = {}

  def timed(name, fn, items):
    best = float("inf")
    for rep in range(repeats):
      rng = np.random.default_rng([1, rep])
      t = time.perf_counter()
      for x in items:
        fn(x, rng)
      best = min(best, (time.perf_counter() - t) / len(items))
    out[name] = 1e3 * best

  timed("read_record", lambda i, rng: source.records[int(source.row_record[i])], rows)
  records_of = source.records
  if hasattr(records_of, "raw") and hasattr(records_of, "parse"):
    # What the frames view needs of a record: its JPEG frames only (every feature is parsed
    # by a row read today: mouth crops, audio windows, boxes...).
    timed("read_record_frames_only",
          lambda i, rng: records_of.parse(records_of.raw[int(source.row_record[i])],
                                          ("frames",)), rows)
  timed("decode", lambda f, rng: views.decode_jpeg(f), frames)
  timed("resize", lambda x, rng: views.resize(x, FACE_SIZE), images)
  timed("sbi", lambda x, rng: sbi.self_blend(x, rng), images)
  for kind in DISTORTIONS:
    timed(kind, lambda x, rng, kind=kind: augment.distort(x, kind, rng, cfg), images)
  # What the configured probabilities make of it per row (sbi on label-0 rows only; the
  # balanced order puts those at about half the rows).
  real = float(np.mean(source.labels == 0))
  balanced = 0.5 if 0 < real < 1 else real
  out["expected_augment"] = (0.5 * balanced * out["sbi"] + sum(0.1 * out[k] for k in DISTORTIONS))
  return out


def load_average():
  try:
    return [round(x, 2) for x in os.getloadavg()]
  except OSError:
    return []


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--json", help="write the figures to this file")
  p.add_argument(
      "--tiny",
      action="store_true",
      help="CI smoke run: tiny config, few steps, one round (seconds)")
  p.add_argument(
      "--data_dir",
      default=str(DEFAULT_DATA_DIR),
      help="where the benchmark's dataset is prepared (once)")
  p.add_argument("--batch", type=int, default=32)
  p.add_argument("--steps", type=int, help="timed steps per run (default 160; --tiny 2)")
  p.add_argument(
      "--warmup", type=int, help="discarded steps per run and worker (default 24; --tiny 1)")
  p.add_argument("--rounds", type=int, help="alternating rounds of every setting (default 2)")
  p.add_argument("--profile_rows", type=int, help="rows for the per-row profile (default 64)")
  args = p.parse_args()
  tiny = args.tiny
  steps = args.steps or (2 if tiny else 160)
  warmup = args.warmup if args.warmup is not None else (1 if tiny else 24)
  tail = 0 if tiny else 20
  rounds = args.rounds or (1 if tiny else 2)
  n_profile = args.profile_rows or (8 if tiny else 64)
  config_name = "tiny" if tiny else "small"
  if tiny:
    # A smoke run reads the tiny config's own 64 px faces: no 256 px build to wait for.
    global FACE_SIZE
    FACE_SIZE = 64

  t = time.perf_counter()
  source = open_train(config_name, args.data_dir, None if tiny else MEDIA)
  print(
      f"{source.name}: {len(source)} train rows of {FACE_SIZE} px faces "
      f"({time.perf_counter() - t:.1f} s to open; data in {args.data_dir})",
      flush=True)
  import jax
  import numpy as np
  print(
      f"jax {jax.__version__}, {jax.devices()[0].platform}; cores {os.cpu_count()}; "
      f"load average {load_average()}",
      flush=True)

  rows = np.random.default_rng(0).choice(len(source), min(n_profile, len(source)), replace=False)
  t = time.perf_counter()
  profile = profile_rows(source, rows, repeats=1 if tiny else 3)
  print(f"\nper-row cost of one worker (ms, this process; {time.perf_counter() - t:.1f} s):")
  print("| piece | ms/row |")
  print("|---|---|")
  for k, v in profile.items():
    print(f"| {k} | {v:.2f} |")

  settings = [("augmented", 1), ("augmented", 2), ("plain", 1), ("plain", 2)]
  runs = {f"{kind}_w{w}": [] for kind, w in settings}
  for r in range(rounds):
    for kind, w in settings:
      t = time.perf_counter()
      # Each worker reads ahead with a pool of threads: warm-up and tail cover that depth.
      got = throughput(
          source, w, kind == "augmented", args.batch, warmup * w, steps, tail * w, seed=r)
      runs[f"{kind}_w{w}"].append(got)
      cpu = (f"; worker CPU {got['worker_cpu_ms_per_example']:.2f} ms/example, main "
             f"{got['main_cpu_ms_per_example']:.2f}, worker cores {got['worker_cores_used']:.2f}"
             if "worker_cpu_ms_per_example" in got else "")
      print(
          f"round {r + 1}: {kind:9s} workers={w}: {got['examples_per_s']:7.1f} examples/s "
          f"(window {got['window_examples_per_s']:.1f}{cpu}; run "
          f"{time.perf_counter() - t:.1f} s; load {load_average()})",
          flush=True)
  med = {k: statistics.median(g["examples_per_s"] for g in v) for k, v in runs.items()}
  # Load-independent capacity: examples per CPU-second of the worker processes (what one
  # worker gives with a core of its own), and what the consumer (this process) spends.
  per_cpu = {
      k: statistics.median(1e3 / g["worker_cpu_ms_per_example"] for g in v)
      for k, v in runs.items()
      if all(g.get("worker_cpu_ms_per_example") for g in v)
  }
  plain_workers = max((1, 2), key=lambda w: med[f"plain_w{w}"])  # the faster
  result = {
      "augmented_examples_per_s": {
          "1": med["augmented_w1"],
          "2": med["augmented_w2"]
      },
      "plain_examples_per_s": med[f"plain_w{plain_workers}"],
      "plain_workers": plain_workers,
      "plain_examples_per_s_by_workers": {
          "1": med["plain_w1"],
          "2": med["plain_w2"]
      },
      "augmented_scaling_1_to_2": med["augmented_w2"] / med["augmented_w1"],
      "examples_per_worker_cpu_s": per_cpu,
      "per_row_ms": profile,
      "runs": runs,
      "batch": args.batch,
      "image_size": FACE_SIZE,
      "steps": steps,
      "warmup": warmup,
      "tail": tail,
      "rounds": rounds,
      "dataset": source.name,
      "load_average": load_average(),
      "cores": os.cpu_count()
  }
  print(f"\n| input path (batch {args.batch}, {FACE_SIZE} px) | workers | examples/s "
        f"| examples per worker CPU-s |")
  print("|---|---|---|---|")
  for key, label, w in (("augmented_w1", "augmented (sbi 0.5, distortions 0.1)",
                         1), ("augmented_w2", "augmented (sbi 0.5, distortions 0.1)", 2),
                        ("plain_w1", "plain", 1), ("plain_w2", "plain", 2)):
    cap = f"{per_cpu[key]:.1f}" if key in per_cpu else "-"
    print(f"| {label} | {w} | {med[key]:.1f} | {cap} |")
  print(f"scaling 1 -> 2 workers (augmented): {result['augmented_scaling_1_to_2']:.2f}x; "
        f"load average {result['load_average']}")
  if args.json:
    with open(args.json, "w") as f:
      json.dump(result, f, indent=2)


if __name__ == "__main__":
  main()
