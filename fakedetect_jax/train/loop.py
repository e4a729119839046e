"""The one training loop every frame model goes through: train, select on validation, test."""
import collections
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils

from fakedetect_jax import config_lib, evaluate, input as input_lib, models
from fakedetect_jax.input import views
from fakedetect_jax.errors import ConfigError, DivergedError
from fakedetect_jax.models import pretrained as pretrained_lib
from fakedetect_jax.train import state as state_lib
from fakedetect_jax.train import evals as evals_lib
from fakedetect_jax.train import checkpoints
from fakedetect_jax.train.checkpoints import Checkpoints
from fakedetect_jax.train.logging import MetricWriter, Progress
from fakedetect_jax.train.step import make_eval_step, make_train_step


def _barrier(name):
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def check_config(config, n_devices):
  c = config
  if c.log_every <= 0 or c.checkpoint_every % c.log_every or c.eval_every % c.log_every:
    raise ConfigError(
        f"checkpoint_every ({c.checkpoint_every}) and eval_every ({c.eval_every}) "
        f"must be multiples of log_every ({c.log_every}): only checked steps are saved")
  if c.batch_size % (n_devices * c.grad_accum_steps):
    raise ConfigError(f"batch_size {c.batch_size} must divide by devices ({n_devices}) x "
                      f"grad_accum_steps ({c.grad_accum_steps})")
  if c.eval.batch_size % n_devices:
    raise ConfigError(f"eval.batch_size {c.eval.batch_size} must divide by devices ({n_devices})")
  if c.get("pretrained") and not os.path.exists(c.pretrained):
    raise ConfigError(f"pretrained weights {c.pretrained} not found: expected an .npz from "
                      f"`python -m fakedetect_jax.models convert` (docs/pretrained.md)")
  if c.compute_dtype not in ("float32", "bfloat16"):
    raise ConfigError(f"compute_dtype {c.compute_dtype!r}: expected float32 or bfloat16")


def prepare_workdir(config, workdir):
  """Creates workdir, records the config and its hash; refuses a workdir of another config."""
  try:
    os.makedirs(workdir, exist_ok=True)
    # One probe per process: hosts sharing a filesystem must not remove each other's probe.
    probe = os.path.join(workdir, f".write_test.{jax.process_index()}.{os.getpid()}")
    with open(probe, "w") as f:
      f.write("ok")
    os.remove(probe)
  except OSError as e:
    raise ConfigError(f"cannot write to workdir {workdir}: {e.strerror or e}") from None
  digest = config_lib.config_hash(config)
  hash_file = os.path.join(workdir, "config_hash")
  if os.path.exists(hash_file):
    with open(hash_file) as f:
      old = f.read().strip()
    if old != digest:
      raise ConfigError(f"workdir {workdir} holds a run of another config (hash {old}, this one "
                        f"{digest}); use a new --workdir or the same config to resume")
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "config.json"), "w") as f:
      f.write(config.to_json_best_effort(indent=2, sort_keys=True))
    with open(hash_file, "w") as f:
      f.write(digest + "\n")
  return digest


def load_pretrained_state(state, config, tx, sharding):
  """A fresh state whose weights come from config.pretrained (every host reads the same file)."""
  path = config.pretrained
  host = jax.device_get({"params": state.params, "batch_stats": state.batch_stats})
  try:
    loaded = pretrained_lib.load_pretrained(config.model.name, path, host)
  except (ValueError, KeyError) as e:
    raise ConfigError(f"cannot load pretrained weights {path} into {config.model.name}: {e}")
  print(f"Loaded pretrained weights from {path}.", file=sys.stderr, flush=True)
  return jax.jit(
      lambda p, b: state_lib.TrainState(
          step=jnp.zeros((), jnp.int32), params=p, batch_stats=b, opt_state=tx.init(p)),
      out_shardings=sharding)(loaded["params"], loaded["batch_stats"])


# Kept importable from here (studies and fusion call them through the loop module).
predict = evals_lib.predict
save_predictions = evals_lib.save_predictions


def _public(result):
  return {k: v for k, v in result.items() if not k.startswith("_")}


def report(workdir, results, curves=None):
  """Writes results.json, results.md and roc.png (host 0) and prints the table."""
  table = evaluate.markdown_table(results)
  if jax.process_index() == 0:
    if curves:
      evaluate.plot_roc(curves, os.path.join(workdir, "roc.png"))
    with open(os.path.join(workdir, "results.md"), "w") as f:
      f.write(table + "\n")
    tmp = os.path.join(workdir, "results.json.tmp")
    with open(tmp, "w") as f:
      json.dump(results, f, indent=2, sort_keys=True)
    os.replace(tmp, os.path.join(workdir, "results.json"))  # last: marks the run finished
    print(table, flush=True)
  return results


def train_and_evaluate(config, workdir):
  """Trains config.model on config.data, resuming from workdir; returns {split: metrics}."""
  mesh = state_lib.make_mesh()
  check_config(config, mesh.size)
  prepare_workdir(config, workdir)
  model = models.from_config(config)
  tx = state_lib.optimizer(config)
  schedule = state_lib.make_schedule(config.optimizer, config.total_steps)
  rep, data_sharding = state_lib.replicated(mesh), state_lib.batch_sharding(mesh)

  ckpts = Checkpoints(workdir)
  start = ckpts.latest_step() or 0
  results_file = os.path.join(workdir, "results.json")
  if start >= config.total_steps and os.path.exists(results_file):
    with open(results_file) as f:
      results = json.load(f)
    if jax.process_index() == 0:
      print(f"Run in {workdir} is finished (step {start}); stored results:", flush=True)
      print(evaluate.markdown_table(results), flush=True)
    return results

  # data.train_methods filters training and validation (the checkpoint is picked on the task it
  # is trained for); test keeps every method (sources.run_methods).
  train_src, val_src, test_src = input_lib.sources.open_run_splits(
      config.data, jax.process_index(), lambda split: _barrier("data_" + split))
  example = views.model_arg(train_src.example_inputs(), train_src.view)
  # Built inside jit so every host holds its part of replicated global arrays (device_put
  # cannot target devices of other hosts).
  state = jax.jit(
      lambda: state_lib.create_state(model, tx, config.data.image_size, config.seed, example),
      out_shardings=rep)()
  data_state = None
  if start:
    state, data_state = ckpts.restore_latest(state)
    print(f"Resuming from step {start}.", file=sys.stderr, flush=True)
  elif config.get("init_from"):
    # Fine-tuning (e.g. the lip-sync classifier from its sync pre-training): weights from the
    # other run's best checkpoint, a fresh step count and optimizer.
    loaded, _ = checkpoints.restore_best(config.init_from, state)
    state = jax.jit(
        lambda s: state_lib.TrainState(
            step=jnp.zeros_like(s.step),
            params=s.params,
            batch_stats=s.batch_stats,
            opt_state=tx.init(s.params)),
        out_shardings=rep)(
            loaded)
  elif config.get("pretrained"):
    state = load_pretrained_state(state, config, tx, rep)
  train_step = make_train_step(model, tx, config, mesh)
  eval_step = make_eval_step(model, config, mesh)
  order = input_lib.TrainOrder(train_src.labels, config.batch_size, config.seed,
                               config.data.balance_classes)
  rng = jax.jit(lambda: jax.random.key(config.seed + 1), out_shardings=rep)()
  writer = MetricWriter(workdir, resume_step=start)
  progress = Progress(start, config.total_steps)
  sums, wait, last_log = None, 0.0, time.perf_counter()
  in_flight = collections.deque()
  batches = iter(
      input_lib.TrainBatches(train_src, order, start, config.total_steps, data_sharding,
                             input_lib.pipeline.workers(config.data), config.data.prefetch,
                             config.augment, data_state))
  while True:
    t = time.perf_counter()
    item = next(batches, None)
    wait += time.perf_counter() - t
    if item is None:
      break
    step, batch, data_state = item
    state, m = train_step(state, batch, rng)
    # Bound the steps in flight: the device stays busy with the queued one, host memory stays
    # bounded, and CPU devices simulated on few cores cannot starve each other's collectives.
    in_flight.append(m)
    if len(in_flight) > 2:
      jax.block_until_ready(in_flight.popleft())
    sums = m if sums is None else jax.tree.map(jnp.add, sums, m)  # stays on device
    step += 1
    if step % config.log_every and step != config.total_steps:
      continue
    sums = jax.device_get(sums)
    if sums["nonfinite"] > 0 or not np.isfinite(sums["loss_sum"]):
      last = ckpts.latest_step()
      ckpts.close()
      raise DivergedError(f"loss became NaN or infinite between steps {step - config.log_every} "
                          f"and {step}; stopped; last good checkpoint: "
                          f"{'step ' + str(last) if last else 'none'} in {workdir}")
    n_steps = config.log_every if step % config.log_every == 0 else step % config.log_every
    elapsed = time.perf_counter() - last_log
    logged = {"loss": sums["loss_sum"] / n_steps, "train_acc": sums["correct"] / sums["count"]}
    rate = progress.update(step, config.batch_size, **logged)
    logged.update(
        examples_per_s=rate,
        input_wait_frac=wait / max(elapsed, 1e-9),
        learning_rate=float(schedule(step)))
    sums, wait = None, 0.0
    if step % config.eval_every == 0 or step == config.total_steps:
      _, val = evals_lib.score_source(eval_step, state, val_src, config, data_sharding)
      logged.update({f"val_{k}": v for k, v in val.items() if isinstance(v, float)})
      logged["val_videos"] = val["n_videos"]
      # Ties on the selection metric (AUC saturates on easy data) go to balanced accuracy.
      # (A metric the split cannot give, e.g. AP on a validation split without fakes, is NaN.)
      score = [float(val.get(k, np.nan)) for k in (config.eval.select_metric, "balanced_acc")]
      ckpts.maybe_save_best(state, [v if np.isfinite(v) else -1e9 for v in score],
                            config.eval.select_metric)
    if step % config.checkpoint_every == 0 or step == config.total_steps:
      ckpts.save_latest(state, data_state)
    writer.write(step, logged)
    last_log = time.perf_counter()
  writer.close()

  # Model selection used the validation split only; test is touched once, with the chosen state.
  best = ckpts.best_info()
  final = ckpts.restore(ckpts.best, state, best["step"]) if best else state
  results, curves = {}, {}
  for name, source in (("validation", val_src), ("test", test_src)):
    scores, r = evals_lib.score_source(eval_step, final, source, config, data_sharding)
    evals_lib.save_predictions(workdir, name, scores, source, r)
    if "_roc" in r:
      curves[name] = r["_roc"]
    results[name] = _public(r)
  # Further datasets (cross-dataset, perturbed copies) on the same selected state.
  evals_lib.run_evals(eval_step, final, config, workdir, data_sharding,
                      evals_lib.config_evals(config), best["step"] if best else None)
  ckpts.close()
  _barrier("report")
  return report(workdir, results, curves)
