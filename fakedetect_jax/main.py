"""Trains and evaluates a detector from a config.

python -m fakedetect_jax.main --config=configs/quickstart.py --workdir=runs/quickstart
python -m fakedetect_jax.main --config=configs/meso4.py:dataset=synthetic_av,size=128 \
    --config.optimizer.learning_rate=1e-4 --workdir=runs/meso4

Re-running with the same --workdir resumes; a finished run only re-reports. Several hosts: start
the same command on each with --coordinator_address, --num_processes and --process_id (or with
--distributed on a cluster that jax.distributed.initialize() detects by itself).
"""
import sys

from absl import app, flags, logging
from ml_collections import config_flags

config_flags.DEFINE_config_file("config", None, "Config file (configs/*.py[:args]).",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Where checkpoints, metrics and results go.")
flags.DEFINE_bool("distributed", False, "Call jax.distributed.initialize() with auto-detection.")
flags.DEFINE_string("coordinator_address", None, "host:port of process 0 (multi-host).")
flags.DEFINE_integer("num_processes", None, "Number of processes (multi-host).")
flags.DEFINE_integer("process_id", None, "This process's index (multi-host).")
flags.mark_flags_as_required(["config", "workdir"])
FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
  import jax
  if FLAGS.coordinator_address or FLAGS.distributed:
    jax.distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
  from fakedetect_jax.errors import DivergedError, FakedetectError
  from fakedetect_jax.train import train_and_evaluate
  try:
    train_and_evaluate(FLAGS.config, FLAGS.workdir)
  except FakedetectError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(3 if isinstance(e, DivergedError) else 2)


if __name__ == "__main__":
  app.run(main)
