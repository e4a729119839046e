"""The TFDS FeaturesDict describes exactly what encode_video returns, and round-trips it."""
import numpy as np
import pytest

from fakedetect_jax.media import MediaConfig, encode_video, example_features, example_spec
from media_testlib import astronaut_video, media_dir  # noqa: F401 (fixtures)

CFG = MediaConfig(num_frames=8, face_size=128, mouth_size=48)


@pytest.fixture(scope="module")
def example(astronaut_video):
  return encode_video(astronaut_video[0], CFG)


def test_spec_matches_example(example):
  spec = example_spec(CFG)
  assert set(spec) == set(example)
  for key, (shape, dtype) in spec.items():
    assert example[key].shape == shape and example[key].dtype == dtype, key


def test_features_round_trip(example):
  feats = example_features(CFG)
  assert set(feats.keys()) == set(example)
  for key, (shape, dtype) in example_spec(CFG).items():
    assert tuple(feats[key].shape) == shape and feats[key].np_dtype == dtype, key
  data = feats.serialize_example(example)
  back = feats.deserialize_example_np(data)
  for key, value in example.items():
    got = np.asarray(back[key])
    if value.shape == ():  # deserialize_example_np hands scalars back as Python numbers
      got = got.astype(value.dtype)
    assert got.shape == value.shape and got.dtype == value.dtype, key
    if key == "frames":  # JPEG: close, not equal
      assert np.abs(got.astype(int) - value).mean() < 3
    else:
      np.testing.assert_array_equal(got, value, err_msg=key)
  # Stored compactly: encoded frames far below the raw arrays.
  raw = sum(v.nbytes for v in example.values())
  assert len(data) < raw / 4


def test_png_option():
  feats = example_features(CFG.replace(frames_encoding="png"))
  assert feats["frames"].feature.encoding_format == "png"
