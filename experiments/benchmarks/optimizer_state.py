"""Optimizer-state bytes of the parameter-efficient detectors against full fine-tuning of the
same tower, at full size (shapes only: nothing is computed or allocated).

python experiments/benchmarks/optimizer_state.py [--json out.json]

Each model's train state is built by jax.eval_shape through state.optimizer (Adam, as its config
trains it), so frozen parameters count in the params but get no moments. Rows: effort and univfd
against clip_finetune (CLIP ViT-L/14), and the trainable / total parameters of each.
"""
import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np

from fakedetect_jax import config_lib, models
from fakedetect_jax.models.__main__ import count
from fakedetect_jax.train import state as state_lib

PAIRS = (("effort", "clip_finetune"), ("univfd", "clip_finetune"))


def nbytes(tree):
  return sum(int(np.prod(x.shape)) * jnp.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree))


def abstract_state(name):
  config = config_lib.base_config()
  config.model.name = name
  spec = models.spec(name)
  model = models.get_model(name)
  tx = state_lib.optimizer(config)
  state = jax.eval_shape(lambda: state_lib.create_state(model, tx, spec.default_size, 0))
  trainable = models.registry.Partition(spec.trainable).trainable(state.params)
  return {
      "model": name,
      "total_params": count(state.params),
      "trainable_params": count(trainable),
      "opt_state_bytes": nbytes(state.opt_state),
  }


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--json", help="write the rows to this file")
  args = p.parse_args()
  rows = {}
  print("| model | total params | trainable params | optimizer state | of full fine-tuning's |")
  print("|---|---|---|---|---|")
  for name, full in PAIRS:
    for n in (name, full):
      rows.setdefault(n, abstract_state(n))
    r, f = rows[name], rows[full]
    share = r["opt_state_bytes"] / f["opt_state_bytes"]
    r[f"opt_state_share_of_{full}"] = share
    print(f"| {name} | {r['total_params']:,} | {r['trainable_params']:,} | "
          f"{r['opt_state_bytes'] / 2**20:.2f} MiB | {100 * share:.3f}% |")
  f = rows[PAIRS[0][1]]
  print(f"| {f['model']} | {f['total_params']:,} | {f['trainable_params']:,} | "
        f"{f['opt_state_bytes'] / 2**20:.2f} MiB | 100% |")
  if args.json:
    with open(args.json, "w") as out:
      json.dump(rows, out, indent=2)


if __name__ == "__main__":
  main()
