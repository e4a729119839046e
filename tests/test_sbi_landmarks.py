"""Self-blending's landmark-hull masks (SBI with its landmark augmentation) and the stored face
landmarks reaching them through the training pipeline."""
import json
import os
import shutil

import cv2
import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial import ConvexHull
from skimage import data, draw

from fakedetect_jax import config_lib
from fakedetect_jax.input import pipeline, sbi, sources
from fakedetect_jax.media import landmarks

S = 256


@pytest.fixture(scope="module")
def face_points():
  """The 81 stored points of the astronaut photo's face (the real face mesh), its first 68 in a
  150 px box in the crop's upper left, where the ellipse of landmark-free blending is not."""
  photo = cv2.resize(data.astronaut()[60:250, 130:320], (S, S), interpolation=cv2.INTER_AREA)
  mesh = landmarks.FaceMesh()
  try:
    pts = mesh.landmarks(photo)[list(landmarks.FACE_POINTS)]
  finally:
    mesh.close()
  lo, hi = pts[:68].min(0), pts[:68].max(0)
  return (pts - lo) * (150 / (hi - lo).max()) + [6.0, 40.0], photo


def _polygon_fill(points):
  """skimage's polygon of scipy's convex hull: pixel (r, c) where the point (c, r) is inside, for
  continuous coordinates (pixel centres at +0.5) shifted by half a pixel."""
  pts = np.asarray(points, np.float64)
  hull = pts[ConvexHull(pts).vertices]
  out = np.zeros((S, S), bool)
  rr, cc = draw.polygon(hull[:, 1] - 0.5, hull[:, 0] - 0.5, (S, S))
  out[rr, cc] = True
  return out


def test_hull_masks_are_exactly_the_polygons_of_the_convex_hulls(face_points):
  pts, _ = face_points
  rng = np.random.default_rng(0)
  for cloud in [pts, pts[:68]] + [rng.uniform(-20, S + 20, (n, 2)) for n in (3, 7, 40)]:
    mask = np.zeros((S, S), np.float32)
    sbi.fill_hull(mask, cloud)
    np.testing.assert_array_equal(mask > 0, _polygon_fill(cloud))
  whole = _polygon_fill(pts)
  for variant in sbi.HULL_VARIANTS:
    mask = sbi.variant_mask((S, S), pts, variant) > 0
    ref = np.zeros((S, S), bool)
    for part in sbi.variant_parts(pts, variant):
      ref |= _polygon_fill(part)
    np.testing.assert_array_equal(mask, ref)
    if variant != "extended":  # the raised brows may leave the points' hull; nothing else does
      assert not (mask & ~whole).any()
    assert mask.sum() > 0.5 * whole.sum()


def _box(half):
  return np.ones((2 * int(np.ceil(half[1])) + 1, 2 * int(np.ceil(half[0])) + 1), bool)


def test_blended_mask_stays_near_the_hull_and_covers_its_core(face_points):
  pts, photo = face_points
  # Every point any variant uses (the raised brows included); the smallest region all share.
  outer = _polygon_fill(np.concatenate([pts, sbi.variant_parts(pts, "extended")[5]]))
  inner = np.ones((S, S), bool)
  for variant in sbi.HULL_VARIANTS:
    for_variant = np.zeros((S, S), bool)
    for part in sbi.variant_parts(pts[:68], variant):
      for_variant |= _polygon_fill(part)
    inner &= for_variant
  yy, xx = np.nonzero(outer)
  reach_c = np.hypot(xx + 0.5 - S / 2, yy + 0.5 - S / 2).max()
  box = tuple(pts[:68].max(0) - pts[:68].min(0))
  move, reach = sbi.mask_bounds((S, S), box, reach_c)
  grown = ndimage.binary_dilation(ndimage.distance_transform_edt(~outer) <= move, _box(reach))
  core = ndimage.binary_erosion(ndimage.distance_transform_edt(inner) > move, _box(reach))
  assert core.sum() > 500 and grown.mean() < 0.75  # both regions mean something
  ellipse_hits = 0
  for seed in range(8):
    _, mask = sbi.self_blend(photo, np.random.default_rng(seed), pts)
    assert mask[~grown].max() == 0, seed  # a mask pixel outside the grown hull fails
    assert mask[core].min() > 0, seed
    peak = mask.max()
    assert any(abs(peak - r) < 1e-6 for r in sbi.BLEND_RATIOS), peak
    _, plain = sbi.self_blend(photo, np.random.default_rng(seed), None)
    ellipse_hits += plain[~grown].max() > 0
  assert ellipse_hits == 8  # the landmark-free ellipse would fail the same check


def test_frames_without_landmarks_blend_with_the_ellipse(face_points):
  _, photo = face_points
  nan = np.full((landmarks.NUM_POINTS, 2), np.nan, np.float32)
  a = sbi.self_blend(photo, np.random.default_rng(3), nan)
  b = sbi.self_blend(photo, np.random.default_rng(3), None)
  np.testing.assert_array_equal(a[0], b[0])


def _train_rows(data_dir, size=48):
  config = config_lib.base_config()
  d = config.data
  d.dataset, d.config, d.data_dir, d.image_size = "synthetic_av", "tiny", data_dir, size
  source = sources.open_split(d, "train")
  config.augment.sbi = 1.0
  order = pipeline.TrainOrder(source.labels, 8, seed=0)
  real = next(k for k in range(8) if source.labels[order.index(0, k)] == 0)
  return source, order, config.augment, real


def test_sbi_training_rows_blend_with_their_stored_landmarks(synthetic_tiny):
  _, data_dir = synthetic_tiny
  source, order, cfg, k = _train_rows(data_dir)
  assert source.has_landmarks and not source.landmarks  # read only when asked for
  r = order.index(0, k)
  out = pipeline._TrainRow(source, order, 8, 0, cfg).map(k)
  assert set(out["inputs"]) == {"image"} and out["labels"] == 1  # the model never sees them
  stored = source.records.read(source.row_record[r], ("face_landmarks",))["face_landmarks"]
  lm = source.with_landmarks()[r]["inputs"]["landmarks"]
  np.testing.assert_allclose(lm, stored[source.row_part[r]].astype(np.float32) * 48 / 64)
  assert np.isfinite(lm).all() and 0 <= lm.min() and lm.max() <= 48
  image = source[r]["inputs"]["image"][None]
  draw_rng = lambda: np.random.default_rng([order.seed, 0, k])
  from fakedetect_jax.input import augment
  hull, _ = augment.apply_augmentations(image, [0], draw_rng(), cfg, lm[None])
  ellipse, _ = augment.apply_augmentations(image, [0], draw_rng(), cfg)
  np.testing.assert_array_equal(out["inputs"]["image"], hull[0])
  assert not np.array_equal(hull, ellipse)


def test_data_prepared_without_landmarks_trains_with_the_ellipse(synthetic_tiny, tmp_path):
  builder, _ = synthetic_tiny
  old = tmp_path / "synthetic_av" / "tiny"
  shutil.copytree(os.path.dirname(builder.data_dir), old)
  features = old / os.path.basename(builder.data_dir) / "features.json"
  spec = json.loads(features.read_text())
  del spec["featuresDict"]["features"]["face_landmarks"]  # as written before they were stored
  features.write_text(json.dumps(spec))
  source, order, cfg, k = _train_rows(str(tmp_path))
  assert not source.has_landmarks
  sources._WARNED_NO_LANDMARKS.discard(source.name)
  with pytest.warns(UserWarning, match=r"synthetic_av/tiny: no stored face landmarks.*ellipse"):
    row = pipeline._TrainRow(source, order, 8, 0, cfg)
  out = row.map(k)
  from fakedetect_jax.input import augment
  image = source[order.index(0, k)]["inputs"]["image"][None]
  ellipse, _ = augment.apply_augmentations(image, [0], np.random.default_rng([0, 0, k]), cfg)
  np.testing.assert_array_equal(out["inputs"]["image"], ellipse[0])
