"""Studies end to end with --tiny on the embedded dataset and the builders' replicas: tables of the
right shape with finite numbers, skipped finished runs, resumed unfinished ones, a broken run
reported while the others finish, missing datasets named with their download instructions, and
`report` regenerating every table from stored results alone.

Every study command runs as a user runs it (a subprocess). One simulated device and a shared
JAX compilation cache keep the many tiny trainings (the same shapes again and again) cheap.
"""
import csv
import math
import os
import subprocess
import sys

import pytest

from conftest import REPO
from fakedetect_jax.studies import Eval, Run, study as study_lib
from fakedetect_jax.testing import contract, replicas


@pytest.fixture(scope="session")
def study_env(synthetic_tiny, tmp_path_factory):
  """(env, data_dir): the embedded tiny dataset plus every gated dataset's replica, built once
  with the replicas' tiny media, in one data_dir."""
  import tensorflow_datasets as tfds
  from fakedetect_jax.input import sources
  _, data_dir = synthetic_tiny
  manual = tmp_path_factory.mktemp("manual")
  ff, dfd = replicas.write_ffpp(str(manual / "ffpp"))
  builds = [("ffpp", "c23", ff), ("ffpp", "dfd_c23", dfd),
            ("celeb_df", "v2", replicas.write_celeb_df(str(manual / "celeb_df"))),
            ("dfdc", "full", replicas.write_dfdc(str(manual / "dfdc"))),
            ("dfdc", "preview", replicas.write_dfdcp(str(manual / "dfdcp"))),
            ("fakeavceleb", "v1.2", replicas.write_fakeavceleb(str(manual / "fakeavceleb")))]
  for name, config, replica in builds:
    builder = sources.import_builder_module(name).Builder(
        data_dir=data_dir, config=config, media=contract.TINY_MEDIA, workers=1)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=replica.manual_dir))
  env = dict(
      os.environ,
      XLA_FLAGS="--xla_force_host_platform_device_count=1",
      FAKEDETECT_MEDIA=contract.TINY_MEDIA,
      JAX_COMPILATION_CACHE_DIR=str(tmp_path_factory.mktemp("jax_cache")),
      JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
      JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
  return env, data_dir


def studies(env, *args, timeout=600):
  proc = subprocess.run([sys.executable, "-m", "fakedetect_jax.studies", *args],
                        cwd=REPO,
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=timeout)
  return proc.returncode, proc.stdout + proc.stderr


def run_study(study_env, study, workdir, *extra, in_process=True):
  """`run STUDY --tiny`, by default with every run in one process (one start-up for all)."""
  env, data_dir = study_env
  return studies(env, "run", study, f"--data_dir={data_dir}", f"--workdir={workdir}", "--tiny",
                 *extra, *(["--in_process"] if in_process else []))


def read_csv(path):
  with open(path) as f:
    return list(csv.reader(f))


def numbers(cells):
  """The mean of each 'mean ± std [lo, hi]' cell, as floats."""
  return [float(c.split()[0]) for c in cells]


def test_leaderboard_tiny_on_replicas(study_env, tmp_path):
  # A released DeepfakeBench Meso4 (random weights, saved as its trainer saves them) beside our
  # trained one: the imported block runs through the same evaluations.
  from deepfakebench_torch import Wrapped, randomize, save
  from deepfakebench_torch.meso import Meso4
  dfb = tmp_path / "dfb"
  dfb.mkdir()
  save(randomize(Wrapped(Meso4())), dfb / "meso4_best.pth", data_parallel=True)
  rc, out = run_study(study_env, "experiments/studies/leaderboard.py", tmp_path,
                      "--only=meso4-s0,deepfakebench_meso4", "--allow_scratch",
                      f"--deepfakebench_dir={dfb}")
  assert rc == 0, out[-3000:]
  header, *body = read_csv(tmp_path / "report" / "leaderboard.csv")
  assert header[:3] == ["model", "weights", "test set"]
  tests = ["FF++ c23", "Celeb-DF v2", "DFD", "DFDC", "DFDC preview"]
  for weights in ("none", "deepfakebench"):  # MesoNets have no ImageNet weights
    ours = [r for r in body if r[0] == "meso4" and r[1] == weights]
    assert [r[2] for r in ours] == tests
    assert all(math.isfinite(v) for r in ours for v in numbers(r[3:7]))
    assert ours[1][8] == "0.6091" and "DeepfakeBench" in ours[1][9]  # published, Celeb-DF v2
  _, *published = read_csv(tmp_path / "report" / "leaderboard_published.csv")
  xception = {r[0]: r for r in published}["Xception"]
  assert xception[2] == "frame AUC" and xception[4] == "0.7365" and xception[5] == "0.8163"
  assert len(published) == 15 + 3  # every detector of DeepfakeBench's table, then recent ones
  effort = {r[0]: r for r in published}["Effort"]
  assert effort[1:5] == ["effort", "video-level AUC", "-", "0.956"]
  rows = [r for r in csv.DictReader(open(tmp_path / "report" / "rows.csv"))]
  ours = {r["eval"]: r for r in rows if r["run"] == "meso4-s0"}
  assert set(ours) == {"ffpp_c23", "celeb_df_v2", "dfd", "dfdc", "dfdc_preview"}
  for key in ("config_hash", "git_commit", "dataset", "data_config", "dataset_version",
              "checkpoint_step", "seed", "train_dataset"):
    assert all(r[key] != "" for r in ours.values()), key
  assert ours["dfd"]["data_config"] == "dfd_c23" and ours["dfd"]["checkpoint_step"] in "12"
  imported = [r for r in rows if r["run"] == "deepfakebench_meso4"]
  assert len(imported) == 5 and all("imported meso4" in r["config"] for r in imported)


def test_leaderboard_refuses_from_scratch_rows_unless_allowed(tmp_path):
  from fakedetect_jax.errors import ConfigError
  module = study_lib.load_study("experiments/studies/leaderboard.py")
  with pytest.raises(ConfigError, match="--allow_scratch"):
    module.runs(f"pretrained_dir={tmp_path}")
  (tmp_path / "xception_imagenet.npz").write_bytes(b"")
  runs = {r.name: r for r in module.runs(f"pretrained_dir={tmp_path},allow_scratch=true")}
  assert f"pretrained={tmp_path / 'xception_imagenet.npz'}" in runs["xception-s0"].config
  assert runs["xception-s0"].tags["weights"] == "imagenet"
  assert runs["vit_s16-scratch-s0"].tags["weights"] == "scratch"
  assert runs["meso4-s0"].tags["weights"] == "none"


def test_cross_dataset_and_robustness_tiny(study_env, tmp_path):
  # The study's argument picks MesoNet-4: compiling Xception alone takes a minute on a CI CPU.
  rc, out = run_study(study_env, "experiments/studies/cross_dataset.py:config=meso4.py",
                      tmp_path / "cross", "--only=ffpp_c23_Deepfakes-s0,celeb_df_v2-s0")
  assert rc == 0, out[-3000:]
  header, *body = read_csv(tmp_path / "cross" / "report" / "cross_dataset_auc.csv")
  assert [r[0] for r in body] == ["ffpp_c23_Deepfakes", "celeb_df_v2"]
  assert header[1:] == [
      "FF++ c23", "FF++ Deepfakes", "FF++ Face2Face", "FF++ FaceSwap", "FF++ NeuralTextures",
      "FF++ FaceShifter", "Celeb-DF v2", "DFD", "DFDC", "DFDC preview"
  ]
  assert all(math.isfinite(v) for r in body for v in numbers(r[1:]))
  assert os.path.getsize(tmp_path / "cross" / "report" / "cross_dataset_auc.png") > 1000

  rc, out = run_study(study_env, "experiments/studies/robustness.py", tmp_path / "rob",
                      "--only=meso4-s0")
  assert rc == 0, out[-3000:]
  header, *body = read_csv(tmp_path / "rob" / "report" / "robustness.csv")
  assert [r[1] for r in body] == ["jpeg", "blur", "noise", "downscale"]
  assert all(len(r) == 8 and all(math.isfinite(v) for v in numbers(r[2:])) for r in body)
  assert len({r[2] for r in body}) == 1  # one clean score for every distortion
  for kind in ("jpeg", "blur", "noise", "downscale"):
    assert os.path.exists(tmp_path / "rob" / "report" / f"robustness_{kind}.png")


def test_audio_visual_tiny_on_replica_and_embedded(study_env, tmp_path):
  rc, out = run_study(study_env, "experiments/studies/audio_visual.py", tmp_path,
                      "--only=spatial-s0,audio-s0")
  assert rc == 0, out[-3000:]
  for dataset in ("fakeavceleb", "synthetic_av"):
    header, *body = read_csv(tmp_path / "report" / f"audio_visual_{dataset}.csv")
    assert header == [
        "test video AUC", "overall", "RealVideo-FakeAudio", "FakeVideo-RealAudio",
        "FakeVideo-FakeAudio"
    ]
    assert [r[0] for r in body] == [
        "branch spatial", "branch audio", "silence-only, untrimmed", "silence-only, trimmed",
        "fusion mean", "fusion max", "fusion logistic", "fusion mlp"
    ]
    assert all(math.isfinite(v) for r in body for v in numbers(r[1:])), body


CONFIG_FILES = [
    "audio.py", "efficientnet.py:variant=b0", "fusion.py:branch=lipsync",
    "fusion.py:branch=spatial,preset=proof", "inception_resnet_v2.py", "lipsync.py",
    "meso4.py:dataset=ffpp,data_config=c23", "mesoinception4.py", "quickstart.py", "resnext.py",
    "temporal.py", "vit.py:variant=s16", "xception.py:accel=gpu8"
]


@pytest.mark.parametrize("spec", CONFIG_FILES)
def test_runlocal_shrinks_every_config_and_leaves_it_alone_when_off(spec):
  from fakedetect_jax import config_lib, models
  file, _, arg = spec.partition(":")
  config = study_lib.config_file(spec)
  off = study_lib.config_file(f"{file}:{arg + ',' if arg else ''}runlocal=false")
  assert config_lib.config_hash(off) == config_lib.config_hash(config)
  local = study_lib.config_file(spec, runlocal=True)
  assert local.model.name == config.model.name and local.data.view == config.data.view
  assert local.total_steps == 2 and local.batch_size % 8 == 0 and local.eval.batch_size % 8 == 0
  assert local.batch_size <= 8 and local.log_every == local.eval_every == 2
  assert local.checkpoint_every == 2
  least = models.REGISTRY[local.model.name].min_size
  assert least <= local.data.image_size <= max(32, least + 31)
  if config.data.dataset == "synthetic_av":
    assert local.data.config == "tiny"
  else:
    assert local.data.config == config.data.config
  if config.data.view in ("clips", "av"):
    assert local.data.clip_len <= 4


BROKEN_STUDY = '''
from fakedetect_jax.studies import Eval, Run
from fakedetect_jax.studies import report as tables

CONFIG = "meso4.py:dataset=synthetic_av,data_config=tiny,size=32"
EVALS = (Eval("test", "synthetic_av", "tiny"),)


def runs(arg=None):
  return [Run("good-s0", CONFIG, EVALS, seed=0, tags={"kind": "good"}),
          Run("broken", CONFIG, EVALS, overrides={"model.name": "no_such_model"}),
          Run("after_broken", CONFIG, EVALS, init_from="broken"),
          Run("good-s1", CONFIG, EVALS, seed=1, tags={"kind": "good"})]


def report(rows, out_dir, arg=None):
  cells = tables.group(rows, ("kind",), "video_auc")
  tables.write_table(out_dir, "seeds", ["kind", "video AUC", "seeds"],
                     [[k[0], tables.fmt(v), v[2]] for k, v in cells.items()])
'''


def test_runner_skips_resumes_reports_failures_and_regenerates(study_env, tmp_path):
  study = tmp_path / "two_seeds.py"
  study.write_text(BROKEN_STUDY)
  work = tmp_path / "work"
  rc, out = run_study(study_env, str(study), work)
  assert rc == 1
  assert "2 of 4 runs finished" in out and "broken: failed" in out and "no_such_model" in out
  assert "after_broken: blocked" in out
  header, row = read_csv(work / "report" / "seeds.csv")
  assert row[0] == "good" and " ± " in row[1] and row[2] == "2"  # mean ± std over two seeds

  # An unfinished run (an evaluation lost) resumes, in a process of its own (the default);
  # finished runs are skipped.
  os.remove(work / "runs" / "good-s1" / "experiment.json")
  os.remove(work / "runs" / "good-s1" / "evals" / "test.json")
  rc, out = run_study(study_env, str(study), work, "--only=good", in_process=False)
  assert rc == 0, out[-3000:]
  assert "good-s0: finished before, skipped" in out and "good-s1: finished" in out
  log = (work / "runs" / "good-s1" / "log.txt").read_text()
  assert log.count("is finished (step 2)") == 1  # trained once, only re-evaluated

  # Every table from the stored rows alone.
  before = {p: (work / "report" / p).read_bytes() for p in ("seeds.csv", "seeds.md", "rows.csv")}
  for p in before:
    os.remove(work / "report" / p)
  rc, out = studies(study_env[0], "report", str(work))
  assert rc == 0, out
  assert {p: (work / "report" / p).read_bytes() for p in before} == before


def test_missing_dataset_is_named_with_instructions_per_run(study_env, tmp_path):
  env, _ = study_env
  rc, out = studies(env, "run", "experiments/studies/leaderboard.py",
                    f"--data_dir={tmp_path / 'none'}", f"--workdir={tmp_path / 'work'}",
                    "--only=meso4-s0,xception-scratch-s0", "--allow_scratch")
  assert rc == 1
  assert "meso4-s0: dataset ffpp/c23 is not prepared" in out
  assert "xception-scratch-s0: dataset celeb_df/v2 is not prepared" in out
  assert "download-FaceForensics.py" in out and "tfds build datasets/ffpp --config=c23" in out
  assert "0 of 2 runs finished" in out and not os.path.exists(
      tmp_path / "work" / "runs" / "meso4-s0" / "checkpoints")


def test_shards_split_runs_and_keep_chains_together():
  e = (Eval("t", "synthetic_av", "tiny"),)
  runs = [
      Run("a", "meso4.py", e),
      Run("b", "meso4.py", e),
      Run("b2", "meso4.py", e, init_from="b"),
      Run("c", "meso4.py", e)
  ]
  shards = [[r.name for r in study_lib.shard_runs(runs, f"{i}/2")] for i in range(2)]
  assert shards == [["a", "c"], ["b", "b2"]]
  with pytest.raises(ValueError, match="i/n"):
    study_lib.shard_runs(runs, "2/2")
