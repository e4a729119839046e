"""Runs a study: every run in its own workdir and its own process, skipping finished runs.

    WORKDIR/study.json                    the study file, its argument, --tiny and data_dir
                                          (for `report`)
    WORKDIR/runs/<run>/                   the main job's workdir (config.json, checkpoints, ...)
    WORKDIR/runs/<run>/evals/<eval>.json  one result row: metrics, per-video scores, provenance
    WORKDIR/runs/<run>/experiment.json    written when every evaluation is done: run finished
    WORKDIR/runs/<run>/status.json        finished | failed | missing data, with the reason
    WORKDIR/runs/<run>/log.txt            the run's output
    WORKDIR/report/                       tables and plots (report.py)
    WORKDIR/...                           whatever the study's finish() builds from its runs
                                          (synthetic_fusion: WORKDIR/detector/)

Each run is a subprocess (`python -m fakedetect_jax.studies _run_one ...`): a crash, an out
of memory or a hung compile ends that run only, JAX and TF state never leak from one model to
the next, and memory goes back to the system between runs. The cost, a few seconds of imports
per run, is small next to any real training. An unfinished run resumes: the main job continues
from its latest checkpoint and finished evaluations are kept.
"""
import contextlib
import datetime
import functools
import json
import os
import subprocess
import sys
import textwrap
import traceback

from fakedetect_jax.builder_lib import MEDIA_ENV
from fakedetect_jax.errors import FakedetectError
from fakedetect_jax.studies import study as study_lib
from fakedetect_jax.input import sources

# Media settings of the builders' tiny replicas (testing/contract.py): --tiny reads data built
# with them unless FAKEDETECT_MEDIA says otherwise.
TINY_MEDIA = "num_frames=4,face_size=64,mouth_size=32"
MISSING_DATA_EXIT = 4


def run_dir(workdir, name):
  return os.path.join(workdir, "runs", name)


def _write_json(path, obj):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(obj, f, indent=1, sort_keys=True, default=str)
  os.replace(tmp, path)


def git_commit():
  """HEAD of the checkout, '+dirty' when tracked files differ from it; 'unknown' outside git."""
  try:
    head = subprocess.run(["git", "rev-parse", "HEAD"],
                          cwd=study_lib.REPO,
                          capture_output=True,
                          text=True,
                          timeout=10).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                           cwd=study_lib.REPO,
                           capture_output=True,
                           text=True,
                           timeout=10).stdout
  except (OSError, subprocess.SubprocessError):
    return "unknown"
  return (head + ("+dirty" if dirty.strip() else "")) if head else "unknown"


@functools.lru_cache(maxsize=None)
def dataset_version(dataset, data_config, data_dir):
  return str(sources.get_builder(dataset, data_config, data_dir).info.version)


@functools.lru_cache(maxsize=None)
def media_protocol(dataset, data_config, data_dir):
  """How a dataset's face crops were made (MediaConfig.protocol, e.g. 'deepfakebench'), as its
  builder reads them (FAKEDETECT_MEDIA applied); 'unknown' for data without a media config."""
  if dataset == "npz":
    return "unknown"
  media = getattr(sources.get_builder(dataset, data_config, data_dir).builder_config, "media", None)
  return getattr(media, "protocol", "unknown")


def missing_dataset(dataset, data_config, data_dir):
  """None when the dataset is usable, else what to do about it (its download instructions)."""
  if dataset in sources.EMBEDDED or dataset == "npz":
    return None
  builder = sources.get_builder(dataset, data_config, data_dir)
  if builder.is_prepared():
    return None
  module = sources.import_builder_module(dataset)
  how = textwrap.dedent(module.Builder.MANUAL_DOWNLOAD_INSTRUCTIONS).strip()
  return (f"dataset {dataset}/{data_config} is not prepared in {builder.data_dir_root}.\n"
          f"  Download it by hand:\n{textwrap.indent(how, '    ')}\n  then build it: tfds build "
          f"datasets/{dataset} --config={data_config} --manual_dir=<the download> "
          f"--data_dir={builder.data_dir_root}")


def run_study(study_path, data_dir, workdir, tiny=False, shard=None, only=None, in_process=False):
  """Runs every (selected) run of a study; returns {run name: status dict}.

  study_path: the study file, with its argument after a colon (`synthetic_fusion.py:preset=
  proof`). tiny: every run's config file gets runlocal=true (configs/__init__.py) and the
  data is read with TINY_MEDIA. Once every selected run finished, the study's finish() (if it
  has one) builds what needs several runs; then the report is written.
  in_process: every run in this process (no per-run start-up: TF and JAX imports take ~10 s on
  a small CPU, more than a --tiny run itself); an error still ends only its run, a crash ends all.
  """
  # Absolute paths: each run's process starts in the repository, wherever this one started.
  workdir, data_dir = os.path.abspath(workdir), data_dir and os.path.abspath(data_dir)
  path, arg = study_lib.split_spec(study_path)
  study_path = os.path.abspath(path) + (f":{arg}" if arg else "")
  module = study_lib.load_study(study_path)
  runs = study_lib.study_runs(module, arg)
  if only:
    wanted = [w.strip() for w in only.split(",")]
    runs = [r for r in runs if any(w in r.name for w in wanted)]
  runs = study_lib.shard_runs(runs, shard)
  if tiny:
    os.environ.setdefault(MEDIA_ENV, TINY_MEDIA)
  _write_json(
      os.path.join(workdir, "study.json"), {
          "study": os.path.abspath(path),
          "arg": arg,
          "tiny": tiny,
          "data_dir": data_dir
      })
  statuses, explained = {}, set()
  for i, run in enumerate(runs):
    wd = run_dir(workdir, run.name)
    prefix = f"[{i + 1}/{len(runs)}] {run.name}:"
    if os.path.exists(os.path.join(wd, "experiment.json")):
      statuses[run.name] = {"status": "finished", "note": "skipped (finished before)"}
      print(f"{prefix} finished before, skipped", flush=True)
      continue
    status = _start(study_path, run, statuses, data_dir, workdir, tiny, prefix, explained,
                    in_process)
    statuses[run.name] = status
    _write_json(os.path.join(wd, "status.json"), {**status, "time": _now()})
  failed = {n: s for n, s in statuses.items() if s["status"] != "finished"}
  print(
      f"{len(statuses) - len(failed)} of {len(statuses)} runs finished" +
      "".join(f"\n  {n}: {s['status']}: {s['note']}" for n, s in failed.items()),
      flush=True)
  from fakedetect_jax.studies import report
  if hasattr(module, "finish"):
    if failed:
      print("finish: not run (it needs every run finished)", flush=True)
    else:
      module.finish(report.load_rows(workdir), workdir, arg)
  report.write_report(workdir)
  return statuses


def _now():
  return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _start(study_path, run, statuses, data_dir, workdir, tiny, prefix, explained, in_process):
  if run.init_from and statuses.get(run.init_from, {}).get("status") != "finished":
    print(
        f"{prefix} not started: it starts from run {run.init_from}, which did not finish",
        flush=True)
    return {"status": "blocked", "note": f"starts from {run.init_from}, which did not finish"}
  try:
    config = study_lib.build_config(run, data_dir, tiny, lambda n: run_dir(workdir, n))
    train = (config.data.dataset, config.data.config)
    missing = {}
    evals = study_lib.run_evals(run, tiny)
    # An imported detector is not trained here: its training data need not be prepared.
    needed = [] if run.imported else [train]
    for ds in dict.fromkeys(needed + [(e.dataset, e.data_config) for e in evals]):
      why = missing_dataset(*ds, data_dir)
      if why:
        missing[ds] = why
  except FakedetectError as e:
    print(f"{prefix} FAILED: {e}", flush=True)
    return {"status": "failed", "note": str(e)}
  for ds, why in missing.items():
    # The full instructions once per dataset builder; one line per run after that.
    short = why.splitlines()[0] + " (how to get it: see above)"
    print(f"{prefix} {why if ds[0] not in explained else short}", flush=True)
    explained.add(ds[0])
  names = ", ".join("/".join(ds) for ds in missing)
  if train in missing:
    return {"status": "missing data", "note": f"needs {names} (not prepared in {data_dir})"}
  wd = run_dir(workdir, run.name)
  os.makedirs(wd, exist_ok=True)
  cmd = [
      sys.executable, "-m", "fakedetect_jax.studies", "_run_one", study_path, f"--run={run.name}",
      f"--workdir={workdir}"
  ] + ([f"--data_dir={data_dir}"] if data_dir else []) + (["--tiny"] if tiny else [])
  print(f"{prefix} running (log: {os.path.join(wd, 'log.txt')})", flush=True)
  with open(os.path.join(wd, "log.txt"), "a") as log:
    log.write(f"\n=== {_now()} {' '.join(cmd)}\n")
    log.flush()
    if in_process:
      rc = _run_here(study_path, run.name, data_dir, workdir, tiny, log)
    else:
      rc = subprocess.run(cmd, cwd=study_lib.REPO, stdout=log, stderr=subprocess.STDOUT).returncode
  if rc == 0 and os.path.exists(os.path.join(wd, "experiment.json")):
    print(f"{prefix} finished", flush=True)
    return {"status": "finished", "note": ""}
  if rc == MISSING_DATA_EXIT:
    print(f"{prefix} trained; evaluations on {names} wait for their data", flush=True)
    return {"status": "missing data", "note": f"evaluations need {names}"}
  note = f"exit code {rc}: {_last_line(os.path.join(wd, 'log.txt'))}"
  print(f"{prefix} FAILED ({note}); the other runs go on", flush=True)
  return {"status": "failed", "note": note}


def _run_here(study_path, name, data_dir, workdir, tiny, log):
  """run_one in this process, its prints and any error going to the run's log."""
  try:
    with contextlib.redirect_stdout(log):
      return run_one(study_path, name, data_dir, workdir, tiny)
  except Exception as e:  # noqa: BLE001 -- one run's error of any kind must not end the study
    log.write("".join(traceback.format_exception(e)))
    log.write(f"error: {type(e).__name__}: {e}\n")
    return 1


def _last_line(path):
  with open(path, errors="replace") as f:
    lines = [l.strip() for l in f.read().splitlines()[-200:] if l.strip()]
  errors = [l for l in lines if l.startswith("error:") or "Error" in l.split(":")[0]]
  return (errors or lines or ["no output"])[-1][:500]


def run_one(study_path, name, data_dir, workdir, tiny):
  """The body of one run's process: train (or resume), then every evaluation not yet stored."""
  module = study_lib.load_study(study_path)
  arg = study_lib.split_spec(study_path)[1]
  run = {r.name: r for r in study_lib.study_runs(module, arg)}[name]
  config = study_lib.build_config(run, data_dir, tiny, lambda n: run_dir(workdir, n))
  wd = run_dir(workdir, name)
  from fakedetect_jax.studies.evaluate_run import RunEvaluator
  if run.imported:
    detector, checkpoint = run.imported
    if not os.path.exists(os.path.join(wd, "config.json")):
      from fakedetect_jax.train import imported
      imported.import_deepfakebench(checkpoint, detector, wd)
    train_version = f"DeepfakeBench release ({os.path.basename(checkpoint)})"
  else:
    from fakedetect_jax.train import train_and_evaluate
    train_and_evaluate(config, wd)
    train_version = dataset_version(config.data.dataset, config.data.config, data_dir)
  with open(os.path.join(wd, "config_hash")) as f:
    digest = f.read().strip()
  common = {
      "study": module.__name__.replace("study_", "", 1),
      "run": name,
      **run.tags,
      "seed": run.seed,
      "config_hash": digest,
      "git_commit": git_commit(),
      "config": (f"imported {run.imported[0]} from {run.imported[1]}" if run.imported else
                 run.config if isinstance(run.config, str) else f"{study_path}:{name}"),
      "model": config.model.name,
      "train_dataset": config.data.dataset,
      "train_data_config": config.data.config,
      # DeepfakeBench's released detectors were trained on their own crops.
      "train_media_protocol": ("deepfakebench" if run.imported else media_protocol(
          config.data.dataset, config.data.config, data_dir)),
      "train_dataset_version": train_version
  }
  missing, evaluate = [], RunEvaluator(config, wd)
  evals = study_lib.run_evals(run, tiny)
  for ev in evals:
    path = os.path.join(wd, "evals", ev.name + ".json")
    if os.path.exists(path):
      continue
    why = missing_dataset(ev.dataset, ev.data_config, data_dir)
    if why:
      print(f"evaluation {ev.name}: {why}", flush=True)
      missing.append(ev.name)
      continue
    result, extra = evaluate(ev)
    row = {
        **common, "eval": ev.name,
        "dataset": ev.dataset,
        "data_config": ev.data_config,
        "media_protocol": media_protocol(ev.dataset, ev.data_config, data_dir),
        "split": ev.split,
        "methods": list(ev.methods),
        "perturbation": ev.perturbation,
        "level": ev.level,
        "dataset_version": extra["dataset_version"],
        "checkpoint_step": extra["checkpoint_step"],
        "time": _now(),
        **result
    }
    _write_json(path, row)
    print(
        f"evaluation {ev.name}: frame AUC {row['frame_auc']:.4f}, video AUC "
        f"{row['video_auc']:.4f}",
        flush=True)
  if missing:
    return MISSING_DATA_EXIT
  _write_json(os.path.join(wd, "experiment.json"), {"finished": _now(), "evals": len(evals)})
  return 0
