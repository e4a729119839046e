"""Faces, mouth and eyes on a real face photo moved and scaled over a background."""
import cv2
import numpy as np
import pytest
from skimage import data

from fakedetect_jax.media import MediaConfig, encode_video_with_report, faces, write_video
from media_testlib import (PHOTO_LIPS, PHOTO_MOUTH_WIDTH, astronaut_clip, background, iou, ncc,
                           place_astronaut, store_rotated)
from media_testlib import astronaut_video, media_dir  # noqa: F401 (fixtures)

CFG = MediaConfig(num_frames=8, face_size=128, mouth_size=48)


@pytest.fixture(scope="module")
def encoded(astronaut_video):
  path, boxes, lips = astronaut_video
  ex, report = encode_video_with_report(path, CFG)
  return ex, report, boxes, lips


def test_every_face_box_matches_the_known_face(encoded):
  ex, report, boxes, _ = encoded
  assert ex["face_found"].all() and not report.warnings
  for t, i in enumerate(ex["frame_indices"]):
    assert iou(ex["boxes"][t], boxes[i]) > 0.7, (t, ex["boxes"][t], boxes[i])
  assert (ex["face_scores"] > 0.5).all()


def test_face_crop_shows_the_face(encoded):
  ex, _, boxes, _ = encoded
  photo = data.astronaut()
  for t, i in enumerate(ex["frame_indices"]):
    # The same 1.3x square cut from the photo itself, around the known face.
    s = (boxes[i][2] - boxes[i][0]) / 95.0
    cx, cy = (np.asarray(ex["boxes"][t][:2]) + ex["boxes"][t][2:]) / 2
    x0, y0 = (boxes[i][0] - 177 * s), (boxes[i][1] - 82 * s)  # photo origin in the frame
    side = 1.3 * max(ex["boxes"][t][2] - ex["boxes"][t][0], ex["boxes"][t][3] - ex["boxes"][t][1])
    px, py, ps = (cx - x0) / s, (cy - y0) / s, side / s
    ref = photo[int(py - ps / 2):int(py + ps / 2), int(px - ps / 2):int(px + ps / 2)]
    ref = cv2.resize(ref, (128, 128), interpolation=cv2.INTER_AREA)
    assert ncc(ex["frames"][t], ref) > 0.9


def test_mouth_crop_is_centred_on_the_lips(encoded):
  ex, _, boxes, lips = encoded
  assert ex["mouth_found"].all()
  photo = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
  for t, i in enumerate(ex["frame_indices"]):
    face_w = boxes[i][2] - boxes[i][0]
    mb = ex["mouth_boxes"][t]
    centre = (mb[:2] + mb[2:]) / 2
    assert np.linalg.norm(centre - lips[i]) < 0.06 * face_w, (centre, lips[i])
    # Pixels: the crop must look like the photo's mouth region at the same place.
    s = face_w / 95.0
    side = (mb[2] - mb[0]) / s
    ref = photo[int(PHOTO_LIPS[1] - side / 2):int(PHOTO_LIPS[1] + side / 2),
                int(PHOTO_LIPS[0] - side / 2):int(PHOTO_LIPS[0] + side / 2)]
    ref = cv2.resize(ref, (48, 48), interpolation=cv2.INTER_AREA)
    assert ncc(ex["mouth"][t], ref) > 0.8
    assert side == pytest.approx(CFG.mouth_scale * PHOTO_MOUTH_WIDTH, rel=0.15)


def test_eye_aspect_ratio_of_open_eyes(encoded):
  ex = encoded[0]
  assert (ex["eye_aspect_ratio"] > 0.2).all() and (ex["eye_aspect_ratio"] < 0.45).all()


def test_example_shapes(encoded):
  ex = encoded[0]
  assert ex["frames"].shape == (8, 128, 128, 3) and ex["frames"].dtype == np.uint8
  assert ex["mouth"].shape == (8, 48, 48) and ex["mouth"].dtype == np.uint8
  assert ex["boxes"].dtype == np.float32 and ex["frame_indices"].dtype == np.int32


@pytest.fixture(scope="module")
def gap_video(media_dir):
  # Face in frames 2..9 only: two leading and two trailing frames show no face.
  frames, boxes, _ = astronaut_clip(n=12, face_from=2, face_to=10)
  path = str(media_dir / "gap.mp4")
  write_video(path, frames, fps=10)
  return path, boxes


@pytest.mark.parametrize("policy", ["carry", "mark", "skip"])
def test_no_face_policies(gap_video, policy):
  path, boxes = gap_video
  ex, report = encode_video_with_report(path, CFG.replace(num_frames=12, no_face=policy))
  assert report.counts["no_face_frames"] == 4
  assert any("no face in 4 of 12" in w for w in report.warnings)
  has_face = ~np.isnan(boxes[:, 0])
  found = ex["face_found"]
  if policy == "skip":
    assert found.all() and ex["padded"]
    assert set(ex["frame_indices"]) == set(np.flatnonzero(has_face))
    return
  assert list(found) == list(has_face[ex["frame_indices"]])
  if policy == "carry":
    assert (ex["frames"][~found].reshape(4, -1).std(1) > 10).all()  # a real crop
    assert not np.isnan(ex["boxes"]).any()
    # Leading frames take the first box, trailing ones the last.
    np.testing.assert_allclose(ex["boxes"][0], ex["boxes"][2])
    np.testing.assert_allclose(ex["boxes"][11], ex["boxes"][9])
  else:
    assert (ex["frames"][~found] == 0).all() and np.isnan(ex["boxes"][~found]).all()
    assert not ex["mouth_found"][~found].any()


def test_eye_alignment_levels_a_tilted_face(media_dir):
  bg = np.full((360, 480, 3), 120, np.uint8)
  photo = cv2.resize(data.astronaut(), (300, 300))
  m = cv2.getRotationMatrix2D((150, 90), 20, 1.0)  # 20 degrees, about the face
  tilted = cv2.warpAffine(photo, m, (300, 300), borderValue=(120, 120, 120))
  bg[30:330, 90:390] = tilted
  path = str(media_dir / "tilted.mp4")
  write_video(path, np.stack([bg] * 4), fps=10)
  cfg = MediaConfig(num_frames=4, face_size=128, mouth_size=48, align_eyes=True)
  ex, _ = encode_video_with_report(path, cfg)
  # In an aligned crop the face is upright: the mouth corners (mesh 61/291) are level.
  from fakedetect_jax.media import landmarks
  mesh = landmarks.FaceMesh()
  try:
    pts = mesh.landmarks(np.ascontiguousarray(ex["frames"][0]))
  finally:
    mesh.close()
  d = pts[291] - pts[61]
  assert abs(np.degrees(np.arctan2(d[1], d[0]))) < 5


def test_rotated_phone_video_boxes_in_upright_coordinates(media_dir):
  frames, boxes, _ = astronaut_clip(n=4, h=480, w=360)
  path = str(media_dir / "astronaut_rot.mp4")
  write_video(path, store_rotated(frames, 90), fps=10, rotation=90)
  ex, report = encode_video_with_report(path, CFG.replace(num_frames=4))
  assert tuple(ex["source_size"]) == (480, 360) and ex["face_found"].all()
  for t, i in enumerate(ex["frame_indices"]):
    assert iou(ex["boxes"][t], boxes[i]) > 0.7


def test_two_faces_follow_the_larger(media_dir):
  bg = background(360, 480)
  frames, big = [], []
  for i in range(4):
    f, _, _ = place_astronaut(bg, 0.35, 330, 150)  # small face, right
    small_face = f[150:150 + 179, 330:330 + 150].copy()
    f, box, _ = place_astronaut(bg, 0.6, 10 + 10 * i, -20)  # large face, left
    f[150:150 + 179, 330:330 + 150] = small_face
    frames.append(f)
    big.append(box)
  path = str(media_dir / "two_faces.mp4")
  write_video(path, np.stack(frames), fps=10)
  ex, _ = encode_video_with_report(path, CFG.replace(num_frames=4))
  assert ex["face_found"].all()
  for t, i in enumerate(ex["frame_indices"]):
    assert iou(ex["boxes"][t], big[i]) > 0.7


def _det(x, y, side, score=0.9):
  return faces.Detection(np.array([x, y, x + side, y + side], np.float32), score)


def test_track_choice_prefers_the_large_persistent_face():
  times = np.arange(6) * 0.5
  # A: medium face in every frame; B: huge face in one frame only; C: small face always.
  dets = [[_det(300, 50, 60), _det(100 + 10 * t, 100, 80)] for t in range(6)]
  dets[3].append(_det(0, 0, 150))
  chosen = faces.choose_track(dets, times)
  assert all(c is not None and c.box[2] - c.box[0] == 80 for c in chosen)


def test_smoothing_removes_jitter_but_follows_motion():
  rng = np.random.default_rng(0)
  t = np.arange(30) / 30.0
  truth = np.stack([100 + 60 * t, 50 + 0 * t], 1)  # steady motion, 60 px/s
  noisy = truth + rng.normal(0, 2.0, truth.shape)
  found = np.ones(30, bool)
  sm = faces.smooth_series(noisy, t, found, 0.15)
  assert np.abs(sm - truth).std() < 0.5 * np.abs(noisy - truth).std()
  assert np.abs((sm - truth)[[0, -1]]).max() < 3.0  # no lag at the ends


def test_graphs_reused_across_videos_give_fresh_graph_results(astronaut_video, media_dir):
  # The encoder keeps its detector and face mesh for the next video; the mesh tracks faces
  # between frames, so a reused one must be reset: a video encoded after another one must
  # come out exactly as with new graphs.
  from fakedetect_jax.media import encoder
  path = astronaut_video[0]
  frames, _, _ = astronaut_clip(n=4, h=360, w=480)
  other = str(media_dir / "astronaut_other.mp4")
  write_video(other, np.ascontiguousarray(frames[:, ::-1, ::-1]), fps=10)  # face elsewhere
  encoder._MODELS.close()
  fresh, _ = encode_video_with_report(path, CFG)
  pair = encoder._MODELS._idle[(CFG.detector, CFG.min_face_score, CFG.landmarks)][-1]
  encode_video_with_report(other, CFG)
  again, _ = encode_video_with_report(path, CFG)
  assert pair in encoder._MODELS._idle[(CFG.detector, CFG.min_face_score, CFG.landmarks)]
  for key in fresh:
    np.testing.assert_array_equal(again[key], fresh[key], err_msg=key)
