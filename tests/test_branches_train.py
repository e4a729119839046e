"""Temporal, lip-sync and audio branches train through the one engine on 8 simulated devices,
on video-level views of the embedded dataset (`tiny`: 4 frames a video)."""
import importlib.util
import json
import os

import jax
import numpy as np
import pytest
from conftest import REPO

from fakedetect_jax import input as input_lib, models
from fakedetect_jax.train import checkpoints, loop, state as state_lib
from fakedetect_jax.train.step import make_train_step, prepare_inputs


def _config(name, arg, data_dir):
  spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "configs", name + ".py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config(arg)
  c.data.data_dir = data_dir
  c.batch_size = c.eval.batch_size = 8
  c.log_every, c.eval_every, c.checkpoint_every = 10, 10, 10
  return c


def _restore(config, workdir, source):
  model = models.from_config(config)
  tx = state_lib.make_optimizer(config.optimizer, config.total_steps)
  state = state_lib.create_state(model, tx, config.data.image_size, 0,
                                 input_lib.views.model_arg(source.example_inputs(), source.view))
  state, _ = checkpoints.restore_best(workdir, state)
  return model, {"params": state.params, "batch_stats": state.batch_stats}


@pytest.mark.parametrize("name", ["resnext_lstm_small", "temporal_transformer", "conv3d"])
def test_temporal_branch_trains_on_eight_devices(synthetic_tiny, name):
  _, data_dir = synthetic_tiny
  config = _config("temporal", f"data_config=tiny,clip_len=4,size=32,model={name}", data_dir)
  source = input_lib.load_split(config.data, "train")
  assert source[0]["inputs"]["frames"].shape == (4, 32, 32, 3)
  mesh = state_lib.make_mesh()
  assert mesh.size == 8
  model = models.get_model(name)
  tx = state_lib.make_optimizer(config.optimizer, 10)
  state = jax.device_put(
      state_lib.create_state(model, tx, 32, 0,
                             input_lib.views.model_arg(source.example_inputs(), source.view)),
      state_lib.replicated(mesh))
  before = jax.device_get(state.params)
  step = make_train_step(model, tx, config, mesh)
  order = input_lib.TrainOrder(source.labels, 8, 0)
  for s, batch in input_lib.train_batches(
      source, order, 0, 2, state_lib.batch_sharding(mesh), prefetch=0):
    state, m = step(state, batch, jax.random.key(0))
    jax.block_until_ready(m)  # bounded steps in flight: CPU collectives cannot starve
    assert np.isfinite(float(m["loss_sum"]))
  moved = [
      not np.allclose(a, b)
      for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(jax.device_get(state.params)))
  ]
  assert np.mean(moved) > 0.9


def test_audio_branch_through_the_loop(synthetic_tiny, tmp_path):
  """Trained on four methods: validation (checkpoint selection included) holds those four, the
  test split every method."""
  _, data_dir = synthetic_tiny
  config = _config("audio", "data_config=tiny,steps=10", data_dir)
  config.data.train_methods = ("real", "voice", "blend", "blend-voice")
  results = loop.train_and_evaluate(config, str(tmp_path / "audio"))
  assert results["test"]["n_videos"] == 16
  assert set(results["test"]["per_method"]) >= {"voice", "blend-voice", "lipsync-voice"}
  assert json.loads((tmp_path / "audio" / "results.json").read_text())["test"]["n_videos"] == 16
  # Two people, one video of each kept method each.
  assert results["validation"]["n_videos"] == 8
  assert set(results["validation"]["per_method"]) == {"voice", "blend-voice"}  # audio fakes
  logged = [
      json.loads(l) for l in (tmp_path / "audio" / "metrics.jsonl").read_text().split("\n") if l
  ]
  assert [m["val_videos"] for m in logged if "val_videos" in m] == [8]


def test_sync_pretraining_finds_the_true_offset_then_fine_tunes(synthetic_tiny, tmp_path):
  """SyncNet objective on in-sync videos: after short training the unshifted audio ranks first;
  a classifier fine-tunes from the pre-trained weights; the fused detector saves and loads."""
  _, data_dir = synthetic_tiny
  sync = _config("lipsync", "data_config=tiny,clip_len=4,objective=sync,steps=40,max_offset=1",
                 data_dir)
  sync.eval_every = sync.checkpoint_every = 40
  loop.train_and_evaluate(sync, str(tmp_path / "sync"))
  # Ranking offset 0 first is the sync objective's accuracy on its training batches.
  logged = [
      json.loads(line)
      for line in (tmp_path / "sync" / "metrics.jsonl").read_text().split("\n")
      if line
  ]
  assert logged[-1]["train_acc"] >= 0.9 and logged[-1]["loss"] < 0.5 * logged[0]["loss"]
  test = input_lib.load_split(sync.data, "test")
  model, variables = _restore(sync, str(tmp_path / "sync"), test)
  rows = [test[i]["inputs"] for i in range(len(test))]
  inputs = {k: np.stack([r[k] for r in rows]) for k in rows[0]}
  x = prepare_inputs(inputs)
  report = model.apply(variables, x, method="report")
  assert set(report) == {"sync_score", "offset", "fake_prob"}
  # On held-out people whose lips follow their voice, the true offset (0) comes out on top
  # far more often than chance (1 in 3 offsets), and they look more in sync than lip-sync fakes.
  in_sync = np.isin(test.methods, ["real", "voice"])
  offsets = np.asarray(report["offset"])
  assert np.mean(offsets[in_sync] == 0) >= 0.75, offsets[in_sync]
  lipsync_fake = np.char.startswith(test.methods.astype(str), "lipsync")
  sync_score = np.asarray(report["sync_score"])
  assert sync_score[in_sync].mean() > sync_score[lipsync_fake].mean()

  tune = _config("lipsync", "data_config=tiny,clip_len=4,steps=10,max_offset=1", data_dir)
  tune.init_from = str(tmp_path / "sync")
  results = loop.train_and_evaluate(tune, str(tmp_path / "lipsync"))
  assert results["test"]["n_videos"] == 16
  # The streams started from the pre-trained ones (the head is new).
  _, tuned = _restore(tune, str(tmp_path / "lipsync"), test)
  a = jax.tree.leaves(variables["params"]["mouth_stream"])
  b = jax.tree.leaves(tuned["params"]["mouth_stream"])
  assert max(float(np.max(np.abs(p - q))) for p, q in zip(a, b)) < 0.05

  # The fused detector is one directory: branch checkpoints + configs + fusion parameters.
  from fakedetect_jax.fusion import Fusion, load_detector, save_detector
  save_detector(
      str(tmp_path / "detector"), {"lipsync": str(tmp_path / "lipsync")},
      Fusion("mean", ["lipsync"]))
  detector = load_detector(str(tmp_path / "detector"))
  ex = {k: np.asarray(v[0]) for k, v in inputs.items()}  # one clip as one video
  out = detector.predict_example(ex)
  assert 0 < out["branches"]["lipsync"] < 1 and out["fake_prob"] == out["branches"]["lipsync"]
  silent = detector.predict_example({**ex, "has_audio": np.array(0)})
  assert silent["branches"]["lipsync"] is None and np.isnan(silent["fake_prob"])
