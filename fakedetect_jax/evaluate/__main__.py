"""Evaluates a finished run's selected checkpoint on other prepared datasets.

python -m fakedetect_jax.evaluate --workdir=runs/meso4 --eval=celeb_df/v2 [--eval=dfdc/full ...]

Each --eval is <dataset>/<builder config>[:<split>] (split: test by default), e.g.
synthetic_av/small or ffpp/c23:validation. The run's model, view, image size and label key are
kept; only the data changes. Results go to <workdir>/evals/<dataset>_<config>.json, with the
same metric keys as results.json's test block, and are printed as a table. (This entry point
runs a model; the evaluate package itself stays model-free: it only turns scores into metrics.)
"""
import argparse
import sys


def main(argv=None):
  p = argparse.ArgumentParser(
      prog="python -m fakedetect_jax.evaluate",
      description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--workdir", required=True, help="a run directory of fakedetect_jax.main")
  p.add_argument(
      "--eval",
      action="append",
      required=True,
      dest="evals",
      help="<dataset>/<builder config>[:<split>]; repeatable")
  p.add_argument(
      "--data_dir",
      default=None,
      help="TFDS data_dir of the datasets (default: "
      "the run's data.data_dir)")
  args = p.parse_args(argv)
  from fakedetect_jax.errors import FakedetectError
  from fakedetect_jax import evaluate
  from fakedetect_jax.train import evals as evals_lib
  try:
    specs = dict(evals_lib.parse_eval(e) for e in args.evals)
    if args.data_dir:
      for fields in specs.values():
        fields["data_dir"] = args.data_dir
    results = evals_lib.evaluate_run(args.workdir, specs)
  except FakedetectError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(evaluate.markdown_table(results))
  return 0


if __name__ == "__main__":
  sys.exit(main())
