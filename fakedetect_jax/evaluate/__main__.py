"""Evaluates a finished run's selected checkpoint on other prepared datasets.

python -m fakedetect_jax.evaluate --workdir=runs/meso4 --eval=celeb_df/v2 [--eval=dfdc/full ...]

Each --eval is <dataset>/<builder config>[:<split>] (split: test by default), e.g.
synthetic_av/small or ffpp/c23:validation. The run's model, view, image size and label key are
kept; only the data changes. Results go to <workdir>/evals/<dataset>_<config>.json, with the
same metric keys as results.json's test block, and are printed as a table. (This entry point
runs a model; the evaluate package itself stays model-free: it only turns scores into metrics.)
A localization run (configs/localization.py) also writes predictions/<name>_segments.json,
_scores.txt and, where labelled, _metadata.json (the challenge's formats).

python -m fakedetect_jax.evaluate --workdir=runs/av1m --submission [--test_list=test_files.txt]

--submission scores a localization run's dataset's `submission` split (AV-Deepfake1M's
test_files.txt videos, no labels) and writes predictions/submission/submission.zip with
prediction.json (segments) and prediction.txt (clip scores), what the challenge server takes.
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
      default=[],
      dest="evals",
      help="<dataset>/<builder config>[:<split>]; repeatable")
  p.add_argument(
      "--submission",
      action="store_true",
      help="a localization run: write the challenge's test-set files (see above)")
  p.add_argument(
      "--test_list",
      default=None,
      help="with --submission: test_files.txt, which the predictions must cover exactly")
  p.add_argument(
      "--data_dir",
      default=None,
      help="TFDS data_dir of the datasets (default: "
      "the run's data.data_dir)")
  args = p.parse_args(argv)
  if not args.evals and not args.submission:
    p.error("give --eval=<dataset>/<config>[:<split>] (repeatable) and/or --submission")
  from fakedetect_jax.errors import FakedetectError
  from fakedetect_jax import evaluate
  from fakedetect_jax.train import evals as evals_lib
  try:
    specs = dict(evals_lib.parse_eval(e) for e in args.evals)
    if args.submission:
      specs["submission"] = evals_lib.submission_fields(args.workdir)
    if args.data_dir:
      for fields in specs.values():
        fields["data_dir"] = args.data_dir
    results = evals_lib.evaluate_run(args.workdir, specs)
    if args.submission:
      from fakedetect_jax.train import localize_eval
      files = None
      if args.test_list:
        with open(args.test_list) as f:
          files = [l.strip().replace("\\", "/").lstrip("/") for l in f if l.strip()]
      path = localize_eval.write_run_submission(args.workdir, "submission", files)
      print(f"challenge submission: {path}", file=sys.stderr)
      results.pop("submission")  # no labels, no metrics
  except (FakedetectError, OSError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  if results:
    print(evaluate.markdown_table(results))
  return 0


if __name__ == "__main__":
  sys.exit(main())
