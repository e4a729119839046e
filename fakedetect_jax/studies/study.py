"""What a study is: a list of runs, each a training config plus the evaluations made with its
best checkpoint, and how a run's config is built (data_dir, seed, --tiny).

A study file (experiments/studies/<study>.py) defines

    def runs(arg=None) -> [Run, ...]               # every run, in order
    def report(rows, out_dir, arg=None) -> None    # tables and plots from stored result rows
    def finish(rows, workdir, arg=None) -> None    # optional: after every run finished, what is
                                                   # built from several runs (a fused detector)

`arg` is the study's argument, the text after a colon in its path (`synthetic_fusion.py:
preset=proof`; None without one), parsed by the study as config files parse theirs
(config_lib.parse_arg). `rows` are dicts, one per (run, evaluation), written by the runner (see
runner.py); the runs' workdirs are `workdir/runs/<run>/`. A study file knows nothing of --tiny:
the runner passes runlocal=true to every run's config file (configs/__init__.py) instead.
"""
import copy
import dataclasses
import importlib.util
import os
from typing import Dict, Optional, Tuple

from fakedetect_jax.errors import ConfigError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclasses.dataclass(frozen=True)
class Eval:
  """One evaluation of a trained run: a dataset's split, optionally perturbed."""
  name: str  # key of the result, e.g. 'celeb_df_v2' or 'jpeg_3'
  dataset: str  # a builder in datasets/
  data_config: str  # its TFDS config
  split: str = "test"
  methods: Tuple[str, ...] = ()  # keep only these methods ('real' = real videos); () = all
  perturbation: Optional[str] = None  # a kind of input/augment.LEVELS
  level: int = 0  # its severity, 1-5


@dataclasses.dataclass(frozen=True)
class Run:
  """One training run (its own workdir) and the evaluations of its best checkpoint."""
  name: str  # unique in the study; the workdir's folder name
  config: object  # 'xception.py:dataset=ffpp' (in configs/) or a ConfigDict
  evals: Tuple[Eval, ...]
  seed: int = 0
  overrides: Dict[str, object] = dataclasses.field(default_factory=dict)  # after the config file
  init_from: Optional[str] = None  # a run of the same study whose best checkpoint starts this one
  tags: Dict[str, object] = dataclasses.field(default_factory=dict)  # columns of the tables
  # (DeepfakeBench detector name, its .pth): not trained, the released weights are imported
  # (train/imported.py) and evaluated; `config` is then unused (None).
  imported: Optional[Tuple[str, str]] = None


def split_spec(spec):
  """'experiments/studies/x.py:preset=proof' -> ('experiments/studies/x.py', 'preset=proof');
  no argument -> (path, None)."""
  path, sep, arg = spec.partition(".py:")
  return (path + ".py", arg or None) if sep else (spec, None)


def load_study(spec):
  """The study module of a file (experiments/studies/<study>.py[:arg]; the argument is ignored
  here, study_runs and the report pass it)."""
  path, _ = split_spec(spec)
  if not os.path.exists(path):
    raise ConfigError(f"study file {path} not found")
  name = "study_" + os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  for attr in ("runs", "report"):
    if not hasattr(module, attr):
      raise ConfigError(f"study file {path} defines no {attr}(): a study defines runs(arg) and "
                        f"report(rows, out_dir, arg)")
  return module


def study_runs(module, arg):
  runs = list(module.runs(arg))
  names = [r.name for r in runs]
  if len(set(names)) != len(names):
    raise ConfigError(f"run names must be unique; repeated: "
                      f"{sorted({n for n in names if names.count(n) > 1})}")
  for r in runs:
    if r.init_from is not None and r.init_from not in names[:names.index(r.name)]:
      raise ConfigError(f"run {r.name}: init_from {r.init_from!r} is not an earlier run")
  return runs


def shard_runs(runs, shard):
  """The runs of shard 'i/n'. A run and the runs it starts from stay on one shard."""
  if not shard:
    return runs
  try:
    i, n = (int(x) for x in shard.split("/"))
    assert 0 <= i < n
  except (ValueError, AssertionError):
    raise ConfigError(f"--shard {shard!r}: expected i/n with 0 <= i < n, e.g. 0/4") from None
  root = {}
  for r in runs:
    root[r.name] = root[r.init_from] if r.init_from else r.name
  chains = list(dict.fromkeys(root.values()))
  return [r for r in runs if chains.index(root[r.name]) % n == i]


def config_file(spec, runlocal=False):
  """'xception.py:size=64' -> the ConfigDict of configs/xception.py with that argument (and
  runlocal=true appended when runlocal)."""
  file, _, arg = spec.partition(":")
  path = os.path.join(REPO, "configs", file)
  if not os.path.exists(path):
    raise ConfigError(f"config file {path} not found")
  if runlocal:
    arg = (arg + "," if arg else "") + "runlocal=true"
  spec_ = importlib.util.spec_from_file_location("config_" + file[:-3], path)
  module = importlib.util.module_from_spec(spec_)
  spec_.loader.exec_module(module)
  return module.get_config(arg or None)


def set_field(config, dotted, value):
  *parents, leaf = dotted.split(".")
  node = config
  for p in parents:
    node = node[p]
  if leaf not in node:
    raise ConfigError(f"override {dotted}: the config has no field {leaf!r}")
  node[leaf] = tuple(value) if isinstance(value, list) else value


def build_config(run, data_dir, tiny, workdir_of):
  """The run's ConfigDict: config file (with runlocal=true under --tiny) + overrides + seed +
  data_dir. A run given as a ConfigDict gets config_lib.runlocal under --tiny, as a config file
  would apply it.

  workdir_of: run name -> workdir, for init_from.
  """
  from fakedetect_jax import config_lib  # jax and grain: not needed to load a study
  if run.imported:
    # The imported detector's own config, at its own input size even under --tiny (its head is
    # sized for it).
    from fakedetect_jax.models import deepfakebench
    from fakedetect_jax.train import imported
    d = deepfakebench.get(run.imported[0])
    config = imported.imported_config(d.model, d.model_kwargs, d.size)
    config.seed = run.seed
    config.data.data_dir = data_dir
    return config
  if isinstance(run.config, str):
    config = config_file(run.config, runlocal=tiny)
  else:
    config = copy.deepcopy(run.config)
    if tiny:
      config = config_lib.runlocal(config)
  for key, value in run.overrides.items():
    set_field(config, key, value)
  config.seed = run.seed
  config.data.data_dir = data_dir
  if run.init_from:
    config.init_from = workdir_of(run.init_from)
  return config


def run_evals(run, tiny):
  """The run's evaluations; under --tiny each reads the data config runlocal reads instead
  (config_lib.runlocal_data_config: synthetic_av's `tiny`, ...)."""
  if not tiny:
    return tuple(run.evals)
  from fakedetect_jax import config_lib
  return tuple(
      dataclasses.replace(e, data_config=config_lib.runlocal_data_config(e.dataset, e.data_config))
      for e in run.evals)
