"""DeepfakeBench's crop protocol and the stored face landmarks, on real rendered face videos."""
import dlib
import numpy as np
import pytest
from skimage import transform

from fakedetect_jax import builder_lib
from fakedetect_jax.errors import DataError
from fakedetect_jax.media import (MediaConfig, align, decode, encode_video_with_report, landmarks,
                                  write_video)
from media_testlib import background, iou, place_astronaut
from media_testlib import astronaut_video, media_dir  # noqa: F401 (fixtures)

DFB = MediaConfig(num_frames=4, protocol="deepfakebench", audio=False)


def test_similarity_is_skimages_estimate_and_the_template_theirs():
  rng = np.random.default_rng(0)
  for _ in range(5):
    src = rng.uniform(0, 300, (5, 2))
    dst = src @ np.array([[0.8, -0.3], [0.3, 0.8]]) + rng.normal(0, 4, (5, 2)) + 20
    ref = transform.SimilarityTransform.from_estimate(src, dst)
    np.testing.assert_allclose(align.similarity(src, dst), ref.params, atol=1e-9)
  # DeepfakeBench's img_align_crop dst for outsize (256, 256), scale 1.3, worked by hand:
  # right eye x = ((30.2946 + 8) * 256 / 112 + 38.4) * 256 / 332.8, y = (51.6963 * 256 / 112 +
  # 38.4) * 256 / 332.8; the left mouth corner likewise from (62.7299, 92.2041).
  np.testing.assert_allclose(align.template(256)[0], [96.8696, 120.4331], atol=1e-3)
  np.testing.assert_allclose(align.template(256)[4], [153.8987, 191.6556], atol=1e-3)


@pytest.fixture(scope="module")
def two_faces(media_dir):
  """A large face left and a smaller one right (dlib lists the smaller first)."""
  bg = background(360, 480)
  frames = []
  for i in range(6):
    f, _, _ = place_astronaut(bg, 0.5, 300, 120)
    small = f[120:376, 300:480].copy()
    f, _, _ = place_astronaut(bg, 0.6, 10 + 4 * i, -20 + 2 * i)
    f[120:376, 300:480] = small
    frames.append(f)
  path = str(media_dir / "two_faces_dfb.mp4")
  write_video(path, np.stack(frames), fps=10)
  ex, report = encode_video_with_report(path, DFB)
  return path, ex, report


def test_deepfakebench_takes_dlibs_largest_face_at_their_frames(two_faces):
  path, ex, report = two_faces
  assert ex["frames"].shape == (4, 256, 256, 3) and ex["face_found"].all(), report.warnings
  np.testing.assert_array_equal(ex["frame_indices"], np.linspace(0, 5, 4).astype(int))
  detector = dlib.get_frontal_face_detector()
  with decode.Video(path) as video:
    frames = video.frames(ex["frame_indices"])
    decoded = {i: decode.to_rgb(f, video.info.rotation) for _, i, _, f in frames}
  for t, i in enumerate(ex["frame_indices"]):
    rects = detector(decoded[i], 1)
    assert len(rects) >= 2  # both faces found: the choice is a real one
    big = max(rects, key=lambda r: r.width() * r.height())
    box = [big.left(), big.top(), big.right() + 1, big.bottom() + 1]  # inclusive edges
    np.testing.assert_array_equal(ex["boxes"][t], box)


def test_deepfakebench_crop_puts_the_key_points_on_the_template(two_faces):
  _, ex, _ = two_faces
  dst = align.template(256)
  mesh = landmarks.FaceMesh()
  try:
    for t in range(len(ex["frames"])):
      mesh.reset()  # each crop is its own image
      pts = mesh.landmarks(ex["frames"][t])
      measured = landmarks.key_points(pts[list(landmarks.FACE_POINTS)]) - 0.5  # pixel indices
      stored = landmarks.key_points(ex["face_landmarks"][t].astype(np.float64)) - 0.5
      # The mesh re-run on the output finds the key points where the crop says they are...
      assert np.abs(measured - stored).max() < 4.0, (t, measured - stored)
      # ...and the crop is the best similarity fit: skimage's own estimate from the measured
      # points to the template is (close to) no change. What remains is the face's own shape
      # against the template's (the same for DeepfakeBench's crops).
      fit = transform.SimilarityTransform.from_estimate(measured, dst)
      assert abs(fit.scale - 1) < 0.03 and abs(fit.rotation) < np.radians(1.5), fit.params
      assert np.abs(fit.translation).max() < 3.0, fit.params
      assert np.abs(measured - dst).max() < 16.0
  finally:
    mesh.close()


def test_stored_landmarks_lie_on_the_face(astronaut_video):
  path, boxes, lips = astronaut_video
  cfg = MediaConfig(num_frames=4, face_size=128, mouth_size=48, audio=False)
  ex, _ = encode_video_with_report(path, cfg)
  lm = ex["face_landmarks"].astype(np.float64)
  assert ex["face_landmarks"].shape == (4, landmarks.NUM_POINTS, 2)
  assert np.isfinite(lm).all() and lm.min() >= 0 and lm.max() <= 128
  for t, i in enumerate(ex["frame_indices"]):
    # The crop is the 1.3x square around the stored box: map the known face into it.
    box = ex["boxes"][t].astype(np.float64)
    side = 1.3 * max(box[2] - box[0], box[3] - box[1])
    to_crop = lambda p: (np.asarray(p) - ((box[:2] + box[2:]) / 2 - side / 2)) * 128 / side
    face = np.concatenate([to_crop(boxes[i][:2]), to_crop(boxes[i][2:])])
    pts = lm[t, :68]
    hull_box = np.concatenate([pts.min(0), pts.max(0)])
    assert iou(hull_box, face) > 0.5, (hull_box, face)
    # Lip centre: the mean of the outer lip ring against the photo's measured one.
    assert np.linalg.norm(lm[t, 48:60].mean(0) - to_crop(lips[i])) < 4.0
    # The jaw runs from the subject's right (image left) over the chin to the left.
    assert pts[0, 0] < pts[8, 0] < pts[16, 0] and pts[8, 1] > pts[0, 1]


def test_the_protocol_renames_the_data_and_bad_values_say_what_is_expected(monkeypatch):
  from fakedetect_jax.input import sources
  from fakedetect_jax.studies import runner
  sources.import_builder_module("synthetic_av")
  import tensorflow_datasets as tfds
  monkeypatch.setenv(builder_lib.MEDIA_ENV, "protocol=deepfakebench")
  b = tfds.builder("synthetic_av", config="tiny", data_dir="/nonexistent-protocol-test")
  assert b.builder_config.name == "tiny+protocoldeepfakebench"
  assert b.builder_config.media.protocol == "deepfakebench"
  protocol = runner.media_protocol("synthetic_av", "tiny", "/nonexistent-protocol-test")
  assert protocol == "deepfakebench"
  monkeypatch.setenv(builder_lib.MEDIA_ENV, "protocol=dlib68")
  with pytest.raises(DataError, match=r"FAKEDETECT_MEDIA.*'default', 'deepfakebench'"):
    tfds.builder("synthetic_av", config="tiny", data_dir="/nonexistent-protocol-test")
