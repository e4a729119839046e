"""synthetic_av's `real_tiny` config: real faces and real speech with the real datasets' methods
(datasets/synthetic_av/real_render.py), built once with real TFDS from the real media folder."""
import json

import numpy as np
import pytest
import tensorflow_datasets as tfds
from etils import epath

from conftest import run_main
from fakedetect_jax.input import sources

sources.import_builder_module("synthetic_av")
from synthetic_av import real_render  # noqa: E402  (datasets/ is on sys.path now)
from synthetic_av import synthetic_av_dataset_builder as builder_module  # noqa: E402

# mediapipe 0.10.14 on protobuf 4 (fakedetect_jax.media.faces.quiet_mediapipe says why).
pytestmark = pytest.mark.filterwarnings(r"ignore:SymbolDatabase\.GetPrototype:UserWarning")

CONFIG = "real_tiny"


@pytest.fixture(scope="module")
def built(real_media, tmp_path_factory):
  """(builder, data_dir, {split: [examples]}) of the real_tiny build."""
  data_dir = str(tmp_path_factory.mktemp("tfds_real"))
  builder = tfds.builder("synthetic_av", config=CONFIG, data_dir=data_dir)
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(real_media)))
  examples = {}
  for split in ("train", "validation", "test"):
    source = builder.as_data_source(split)
    examples[split] = [source[i] for i in range(len(source))]
  return builder, data_dir, examples


def _text(e, key):
  return e[key].decode() if isinstance(e[key], bytes) else str(e[key])


def test_splits_are_disjoint_by_identity_and_speaker(built):
  _, _, examples = built
  people, voices = {}, {}
  for split, exs in examples.items():
    people[split] = {_text(e, "source_id") for e in exs
                    } | {_text(e, "partner_id") for e in exs if _text(e, "partner_id")}
    voices[split] = {_text(e, "speaker_id") for e in exs
                    } | {_text(e, "other_speaker_id") for e in exs if _text(e, "other_speaker_id")}
    assert len({_text(e, "source_id") for e in exs}) == (3 if split != "train" else 7)
    for e in exs:  # the video id names its target identity
      assert _text(e, "video_id").split("/")[1].startswith(_text(e, "source_id") + "_")
  for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
    assert not people[a] & people[b], (a, b)
    assert not voices[a] & voices[b], (a, b)
  assert sum(len(p) for p in people.values()) == len(real_render.IDENTITIES)


def test_every_method_with_its_category(built):
  builder, _, examples = built
  methods = {m for m, _ in builder.builder_config.copies}
  for split, exs in examples.items():
    assert {_text(e, "method") for e in exs} == methods, split
    for e in exs:
      method, cat = _text(e, "method"), _text(e, "category")
      want, fake_video, fake_audio = real_render.category(method)
      assert cat == want and _text(e, "video_id").startswith(cat + "/")
      assert e["video_label"] == fake_video and e["audio_label"] == fake_audio
      assert e["label"] == (fake_video or fake_audio)
      uses_partner = real_render.VISUAL[method] in ("faceswap", "reenact", "blend", "flicker")
      assert bool(_text(e, "partner_id")) == uses_partner, method
      assert e["has_audio"]
  found = [e["face_found"].mean() for exs in examples.values() for e in exs]
  assert np.mean(found) > 0.95


def test_faceswap_changes_only_the_face(built):
  builder, data_dir, examples = built
  root = epath.Path(data_dir) / "downloads" / "synthetic_av" / CONFIG
  items = {it.video_id: it for it in builder.plan(root)}
  config = builder.builder_config
  checked = 0
  for video_id, it in items.items():
    if it.method != "faceswap" or it.split != "test":
      continue
    real = items[video_id.replace("FakeVideo", "RealVideo").replace("_faceswap_", "_real_")]
    render = lambda i: builder_module._render_real(i.path, config, i.source_id, i.method, i.
                                                   video_id, i.extra)
    fake, fake_audio, mask = render(it)
    own, own_audio, _ = render(real)
    changed = (fake != own).any(-1)
    assert not (changed & (mask == 0)).any()  # outside the mask: the target's own pixels
    area = (mask > 0).mean((1, 2))
    assert (area > 0.05).all() and (area < 0.6).all(), area
    inside = np.abs(fake.astype(float) - own)[mask > 0.5].mean()
    assert inside > 8, inside  # another face: a real change where the mask is full
    np.testing.assert_array_equal(fake_audio, own_audio)
    checked += 1
  assert checked == 6  # 3 test people, 2 copies

  # The stored face crops agree: the faceswap crop differs from its real video's crop.
  test = {_text(e, "video_id"): e for e in examples["test"]}
  for video_id, e in test.items():
    if _text(e, "method") == "faceswap":
      twin = test[video_id.replace("FakeVideo", "RealVideo").replace("_faceswap_", "_real_")]
      diff = np.abs(np.asarray(e["frames"], float) - np.asarray(twin["frames"], float)).mean()
      assert diff > 3, (video_id, diff)


def test_quickstart_data_real_trains_on_faceswap_and_reports_per_method(built, tmp_path):
  _, data_dir, _ = built
  workdir = tmp_path / "run"
  run_main(
      workdir,
      f"--config.data.data_dir={data_dir}",
      "--config.data.train_methods=('real','faceswap')",
      "--config.batch_size=16",
      "--config.eval.batch_size=64",
      "--config.log_every=20",
      "--config.eval_every=40",
      "--config.checkpoint_every=40",
      "--config.data.workers=0",
      config=f"configs/quickstart.py:steps=80,data=real,data_config={CONFIG},size=64")
  results = json.loads((workdir / "results.json").read_text())
  per_method = results["test"]["per_method"]
  assert sorted(per_method) == sorted(
      m for m, _ in builder_module._REAL_TINY if real_render.VISUAL[m] is not None)
  print("test per_method:", {m: round(r["video_auc"], 3) for m, r in per_method.items()})
  # Not asserted: AUC >= 0.9 on unseen identities is out of reach of a short run on 7 training
  # identities (80 steps: ~0.4; 300 steps on `real`: 0.64-0.78, the issue 17 closing note).
  assert per_method["faceswap"]["n_videos"] == 6
