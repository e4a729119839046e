"""Runs studies (experiments/studies/<study>.py) and regenerates their tables.

  python -m fakedetect_jax.studies run experiments/studies/leaderboard.py --data_dir=D --workdir=W
  python -m fakedetect_jax.studies run experiments/studies/leaderboard.py ... --shard=0/4
  python -m fakedetect_jax.studies run experiments/studies/cross_dataset.py ... --tiny --only=dfd
  python -m fakedetect_jax.studies run experiments/studies/synthetic_fusion.py:preset=proof ...
  python -m fakedetect_jax.studies report W

run: every run of the study in W/runs/<run>, one after the other; finished runs are skipped,
unfinished ones resume, a failed run is reported and the others go on. The study's argument
follows a colon (`synthetic_fusion.py:preset=proof`; each study's docstring lists its own).
--shard=i/n runs every n-th run only (start shard 0..n-1 on n machines with the same study and
args; copy their W/runs/ folders into one W, or share W, then `report W`). --tiny: every run's
config with runlocal=true (configs/__init__.py: tiny inputs, a handful of steps; CI, smoke
tests). --only: runs whose name contains one of these comma-separated strings.
--in_process: every run in the study's process instead of one process per run (saves the ~10 s
start-up of each run, worth it for --tiny; a crash then ends the whole study).
--pretrained_dir, --allow_scratch, --deepfakebench_dir: the leaderboard's arguments (its
docstring), appended to the study's argument (`leaderboard.py:pretrained_dir=D` is the same).
Exit code 0 when every run finished, 1 otherwise.
"""
import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None):
  p = argparse.ArgumentParser(
      prog="python -m fakedetect_jax.studies",
      description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = p.add_subparsers(dest="command", required=True, metavar="{run,report}")
  run = sub.add_parser("run", help="run (or resume) a study")
  run.add_argument("study", help="experiments/studies/<study>.py[:argument]")
  run.add_argument("--workdir", required=True)
  run.add_argument("--data_dir", default=None, help="TFDS data_dir of the prepared datasets")
  run.add_argument(
      "--tiny",
      action="store_true",
      help="runlocal=true for every run's config, for CI and smoke tests")
  run.add_argument("--shard", default=None, help="i/n: this machine's share of the runs")
  run.add_argument("--only", default=None, help="comma-separated parts of run names")
  run.add_argument(
      "--in_process",
      action="store_true",
      help="every run in this process: no per-run start-up, less isolation")
  run.add_argument("--pretrained_dir", default=None, help="converted ImageNet .npz files")
  run.add_argument(
      "--allow_scratch", action="store_true", help="allow from-scratch rows (marked as such)")
  run.add_argument("--deepfakebench_dir", default=None, help="released DeepfakeBench .pth files")
  rep = sub.add_parser("report", help="regenerate every table and plot from stored results")
  rep.add_argument("workdir")
  one = sub.add_parser("_run_one")  # internal: the body of one run's process
  one.add_argument("study")
  one.add_argument("--run", required=True)
  one.add_argument("--workdir", required=True)
  one.add_argument("--data_dir", default=None)
  one.add_argument("--tiny", action="store_true")
  args = p.parse_args(argv)

  if args.command != "_run_one":
    from absl import logging as absl_logging
    absl_logging.set_verbosity(absl_logging.ERROR)  # TFDS warns about every tiny-media config
  from fakedetect_jax.errors import DivergedError, FakedetectError
  from fakedetect_jax.studies import report
  try:
    if args.command != "report":  # TFDS and TensorFlow: not needed to redraw tables
      from fakedetect_jax.studies import runner
    if args.command == "run":
      args.study = _with_study_args(
          args.study,
          pretrained_dir=args.pretrained_dir,
          allow_scratch=args.allow_scratch or None,
          deepfakebench_dir=args.deepfakebench_dir)
      statuses = runner.run_study(args.study, args.data_dir, args.workdir, args.tiny, args.shard,
                                  args.only, args.in_process)
      print(f"report: {os.path.join(args.workdir, 'report')}")
      return 0 if all(s["status"] == "finished" for s in statuses.values()) else 1
    if args.command == "report":
      if not os.path.exists(os.path.join(args.workdir, "study.json")):
        raise FakedetectError(f"{args.workdir} holds no study (no study.json): run one first")
      out = report.write_report(args.workdir)
      print(f"report: {out}")
      return 0
    code = runner.run_one(args.study, args.run, args.data_dir, args.workdir, args.tiny)
    # Everything is written and closed: skip the seconds of TF/JAX teardown at interpreter exit.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
  except FakedetectError as e:
    print(f"error: {e}", file=sys.stderr)
    return 3 if isinstance(e, DivergedError) else 2


def _with_study_args(spec, **values):
  """'x.py[:a=1]' with key=value appended for every value given (paths made absolute)."""
  extra = []
  for key, value in values.items():
    if value is None:
      continue
    if isinstance(value, bool):
      value = "true" if value else "false"
    elif key.endswith("_dir"):
      value = os.path.abspath(value)
    extra.append(f"{key}={value}")
  if not extra:
    return spec
  return spec + ("," if ".py:" in spec else ":") + ",".join(extra)


if __name__ == "__main__":
  sys.exit(main())
