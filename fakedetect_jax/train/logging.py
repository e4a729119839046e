"""Metrics to a JSON-lines file, TensorBoard and a console progress line (host 0 only)."""
import json
import os
import sys
import time

import jax
import numpy as np


def _fmt_seconds(s):
  s = int(s)
  return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class MetricWriter:

  def __init__(self, workdir, resume_step=0):
    self.active = jax.process_index() == 0
    self.path = os.path.join(workdir, "metrics.jsonl")
    if not self.active:
      return
    if os.path.exists(self.path):
      # Lines past the resumed step describe work that is being redone: drop them.
      with open(self.path) as f:
        keep = [l for l in f if l.strip() and json.loads(l)["step"] <= resume_step]
      with open(self.path, "w") as f:
        f.writelines(keep)
    from flax.metrics import tensorboard
    self.tb = tensorboard.SummaryWriter(os.path.join(workdir, "tensorboard"))

  def write(self, step, metrics):
    if not self.active:
      return
    scalars = {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, (int, float, np.floating, np.integer))
    }
    with open(self.path, "a") as f:
      f.write(json.dumps({"step": int(step), **scalars}) + "\n")
    for k, v in scalars.items():
      self.tb.scalar(k, v, step)
    self.tb.flush()

  def close(self):
    if self.active:
      self.tb.close()


class Progress:
  """`step 150/600 | loss 0.41 | acc 0.81 | 512 ex/s | ETA 1m10s` on stderr."""

  def __init__(self, start_step, total_steps):
    self.total = total_steps
    self.last_step, self.last_time = start_step, time.perf_counter()
    self.start_step, self.start_time = start_step, self.last_time

  def update(self, step, batch_size, **metrics):
    now = time.perf_counter()
    rate = (step - self.last_step) * batch_size / max(now - self.last_time, 1e-9)
    steps_per_s = (step - self.start_step) / max(now - self.start_time, 1e-9)
    eta = (self.total - step) / max(steps_per_s, 1e-9)
    self.last_step, self.last_time = step, now
    if jax.process_index() == 0:
      parts = [f"step {step}/{self.total}"] + [f"{k} {v:.4f}" for k, v in metrics.items()]
      parts += [f"{rate:.1f} ex/s", f"ETA {_fmt_seconds(eta)}"]
      print(" | ".join(parts), file=sys.stderr, flush=True)
    return rate
