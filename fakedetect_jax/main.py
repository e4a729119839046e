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

config_flags.DEFINE_config_file(
    "config", None, "Config file (configs/*.py[:args]).", lock_config=True)
flags.DEFINE_string("workdir", None, "Where checkpoints, metrics and results go.")
flags.DEFINE_bool("distributed", False, "Call jax.distributed.initialize() with auto-detection.")
flags.DEFINE_string("coordinator_address", None, "host:port of process 0 (multi-host).")
flags.DEFINE_integer("num_processes", None, "Number of processes (multi-host).")
flags.DEFINE_integer("process_id", None, "This process's index (multi-host).")
flags.DEFINE_string(
    "jax_cache_dir", None, "Persistent compilation cache ('' or none: off; "
    "default $FAKEDETECT_JAX_CACHE or ~/.cache/fakedetect_jax/jax_cache).")
flags.mark_flags_as_required(["config", "workdir"])
FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
  import jax
  from fakedetect_jax import perf
  perf.enable_compilation_cache(FLAGS.jax_cache_dir)
  if FLAGS.coordinator_address or FLAGS.distributed:
    jax.distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
  from fakedetect_jax.errors import DivergedError, FakedetectError
  from fakedetect_jax.train import train_and_evaluate
  try:
    train_and_evaluate(FLAGS.config, FLAGS.workdir)
  except FakedetectError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(3 if isinstance(e, DivergedError) else 2)


def _one_line(e):
  # absl and ml_collections wrap errors raised while loading a config file, sometimes with the
  # whole traceback as text; the innermost error, last line of that text, says what is wrong.
  while isinstance(e, flags.Error) and (e.__cause__ or e.__context__) is not None:
    e = e.__cause__ or e.__context__
  text = str(e.args[0] if isinstance(e, KeyError) and e.args else e)
  if "Traceback" in text or "Failed loading config file" in text:
    last = [l.strip() for l in text.splitlines() if l.strip()][-1]
    text = last.split(": ", 1)[1] if last.split(": ", 1)[0].endswith("Error") else last
  return " ".join(text.replace("\\n", " ").split())


def parse_flags(argv):
  """absl flag parsing, with config errors (a typo, a bad argument) as one line, not a trace."""
  try:
    rest = FLAGS(argv)
    FLAGS.config.get("seed")  # a config file that failed to load raises only when first used
    return rest
  except (flags.Error, KeyError, AttributeError, TypeError, ValueError, OSError) as e:
    print(f"error: {_one_line(e)}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
