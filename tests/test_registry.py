"""One spec per model (models.REGISTRY): every entry is consistent, a duplicate name is refused,
and a frame model registered from outside the package (here, in this file) goes through the
generic machinery: from_config, the `summary` CLI and a real training run of the main loop."""
import json

import flax.linen as nn
import jax.numpy as jnp
import pytest

from fakedetect_jax import config_lib, explain, models
from fakedetect_jax.errors import ConfigError
from fakedetect_jax.models.__main__ import main as models_cli
from fakedetect_jax.models.layers import Head, cam_tap

NAME = "test_registry_tinynet"


class TinyNet(nn.Module):
  """Two strided convs, the Grad-CAM tap and the zoo's one-logit head: a frame detector."""
  width: int = 8
  dropout: float = 0.0
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train=False):
    x = x.astype(self.dtype)
    for i in range(2):
      x = nn.relu(
          nn.Conv(self.width * (i + 1), (3, 3), strides=(2, 2), dtype=self.dtype,
                  name=f"conv{i}")(x))
    return Head(self.dropout, self.dtype, name="head")(cam_tap(self, x), train)


@pytest.fixture
def tinynet():
  """TinyNet registered under NAME for one test (other tests list the registry)."""
  spec = models.register(NAME, models.ModelSpec(TinyNet, default_size=32, min_size=4))
  try:
    yield spec
  finally:
    models.REGISTRY.pop(NAME, None)


def _config(frames_npz, **model_fields):
  """The one config of the new model: the zoo body on the npz fixture (64 px crops), a few
  steps."""
  a = config_lib.parse_arg("steps=4", size=64, **config_lib.ZOO_ARGS)
  c = config_lib.zoo_config(a, NAME, dropout=0.0, warmup_steps=0)
  c.model.update(model_fields)
  c.data.dataset, c.data.path = "npz", frames_npz
  c.batch_size = c.eval.batch_size = 16
  c.log_every = c.eval_every = c.checkpoint_every = 2
  c.augment.flip, c.augment.brightness = False, 0.0
  return c


def test_every_spec_is_consistent():
  assert models.REGISTRY and models.names() == sorted(models.REGISTRY)
  assert set(explain.EXPLAINERS) == set(models.EXPLAINERS)
  for name, spec in models.REGISTRY.items():
    assert spec.default_size >= spec.min_size >= 1, name
    assert spec.bench_size >= spec.min_size and spec.bench_batch > 0, name
    assert spec.view in models.VIEWS, name
    assert spec.explainer in (*models.EXPLAINERS, None), name
    assert (spec.explainer is None) == (spec.view != "frames"), name
    assert set(spec.converters) <= set(models.CONVERTERS), name
    assert models.spec(name) is spec and callable(spec.cls), name
  # What the converters serve is what the specs say.
  from fakedetect_jax.models import keras_convert, timm_convert
  assert keras_convert.keras_models() == [
      n for n in models.names() if "keras" in models.REGISTRY[n].converters
  ]
  assert set(timm_convert.timm_models()) == {"resnext50_32x4d", "vit_s16", "vit_b16"}
  for name in timm_convert.timm_models():
    assert models.REGISTRY[name].converters["timm"]["layout"] in timm_convert.LAYOUTS


def test_a_duplicate_name_is_refused(tinynet):
  with pytest.raises(ConfigError, match=f"model '{NAME}' is already registered"):
    models.register(NAME, models.ModelSpec(TinyNet))
  with pytest.raises(ConfigError, match="'meso4' is already registered"):
    models.register("meso4", models.ModelSpec(TinyNet))
  assert models.REGISTRY[NAME] is tinynet  # the first registration stands


def test_specs_that_cannot_work_are_refused():
  for bad, message in ((dict(view="pixels"), "view 'pixels'"), (dict(min_size=64,
                                                                     default_size=32), "min_size"),
                       (dict(view="clips", explainer="gradcam"),
                        "explainer"), (dict(converters={"onnx": {}}), "converters")):
    with pytest.raises(ConfigError, match=message):
      models.register(NAME, models.ModelSpec(TinyNet, **bad))
  assert NAME not in models.REGISTRY


def test_spec_is_read_only(tinynet):
  with pytest.raises(AttributeError):
    tinynet.default_size = 64
  with pytest.raises(TypeError):
    tinynet.converters["keras"] = {"app": "Xception"}


def test_from_config_builds_the_named_model_with_every_field(tinynet, frames_npz):
  c = _config(frames_npz, width=4)
  c.compute_dtype = "bfloat16"
  model = models.from_config(c)
  assert isinstance(model, TinyNet)
  assert (model.width, model.dropout, model.dtype) == (4, 0.0, jnp.bfloat16)
  # A config read back from config.json (tuples are lists there) builds the same model.
  back = config_lib.ml_collections.ConfigDict(json.loads(c.to_json()))
  assert models.from_config(back) == model
  c.data.image_size = 2
  with pytest.raises(ConfigError, match="below the smallest input"):
    models.from_config(c)
  c.model.name = "no_such_model"
  with pytest.raises(ConfigError, match="unknown model 'no_such_model'"):
    models.from_config(c)


def test_summary_cli_knows_the_new_model(tinynet, capsys):
  assert models_cli([]) == 0
  assert NAME in capsys.readouterr().out.split()
  assert models_cli(["summary", NAME]) == 0
  lines = capsys.readouterr().out.strip().splitlines()
  assert lines[0] == f"model: {NAME}  input: 32x32x3"
  # conv0 3*3*3*8 + 8, conv1 3*3*8*16 + 16, head 16 + 1
  assert lines[-1] == f"trainable_params: {224 + 1168 + 17}"
  assert models_cli(["summary", NAME, "--size", "2"]) == 2
  assert "below the smallest input" in capsys.readouterr().err
  assert models_cli(["convert", NAME, "imagenet", "out.npz"]) == 2  # no converter: refused
  assert "takes no keras weights" in capsys.readouterr().err


def test_the_new_model_trains_through_the_main_loop(tinynet, frames_npz, tmp_path):
  from fakedetect_jax.train import checkpoints, loop
  c = _config(frames_npz)
  results = loop.train_and_evaluate(c, str(tmp_path / "run"))
  assert results["test"]["n_videos"] == 6
  assert 0.0 <= results["test"]["video_auc"] <= 1.0
  stored = json.loads((tmp_path / "run" / "config.json").read_text())
  assert stored["model"]["name"] == NAME
  # The finished run reads back through the generic restore, into the model from_config builds.
  from fakedetect_jax.train import state as state_lib
  model = models.from_config(c)
  tx = state_lib.make_optimizer(c.optimizer, c.total_steps)
  fresh = state_lib.create_state(model, tx, c.data.image_size, c.seed)
  state, step = checkpoints.restore_best(str(tmp_path / "run"), fresh)
  assert step == int(state.step) and 0 < step <= c.total_steps
  with pytest.raises(checkpoints.NoCheckpointError, match="train it first"):
    checkpoints.restore_best(str(tmp_path / "nothing"), fresh)
  assert not (tmp_path / "nothing").exists()
