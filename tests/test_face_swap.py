"""The real datasets' fake methods as image functions (datasets/synthetic_av/face_swap.py), on real
faces: three stills of fakedetect_jax.testing.real_media cropped to 256 px, with the project's
face mesh (fakedetect_jax.media.landmarks.FaceMesh) run once per still and again on the fakes.

The piecewise affine map is checked against scikit-image's PiecewiseAffineTransform (over the
same Delaunay triangulation) and then aligns faces for the texture checks (skimage's own warp
takes seconds a frame); the similarity against skimage's SimilarityTransform. Per-frame timings
are printed (`pytest -s`)."""
import io
import os
import sys
import time

import numpy as np
import pytest
import threadpoolctl
from PIL import Image
from scipy import spatial
from skimage import transform

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "datasets"))
from synthetic_av import face_swap as fs  # noqa: E402

# mediapipe 0.10.14 on protobuf 4 (fakedetect_jax.media.faces.quiet_mediapipe says why).
pytestmark = pytest.mark.filterwarnings(r"ignore:SymbolDatabase\.GetPrototype:UserWarning")

SIDE = 256
# Target and source of the swaps (two people), and a third face for reenactment: the pursed,
# closed mouth of 15-f13-anc against the open smile of 0-f15-hao.
TARGET, SOURCE, OTHER = "0-f15-hao-ph.jpg", "single_face.jpg", "15-f13-anc-ph.jpg"


@pytest.fixture(scope="module")
def mesh():
  from fakedetect_jax.media.landmarks import FaceMesh
  fm = FaceMesh()

  def landmarks(rgb):
    fm.reset()  # each image on its own, not a video
    return fm.landmarks(np.ascontiguousarray(rgb))

  yield landmarks
  fm.close()


@pytest.fixture(scope="module")
def faces(real_media, mesh):
  """{still: (uint8 [256, 256, 3] face crop, [468, 2] mesh on the crop)}."""
  out = {}
  for name in (TARGET, SOURCE, OTHER):
    photo = Image.open(real_media / "stills" / name).convert("RGB")
    p = mesh(np.asarray(photo))
    assert p is not None, name
    centre, side = (p.min(0) + p.max(0)) / 2, 1.8 * (p.max(0) - p.min(0)).max()
    x0, y0 = centre - side / 2
    s = side / SIDE
    crop = np.asarray(
        photo.transform((SIDE, SIDE), Image.AFFINE, (s, 0, x0, 0, s, y0), Image.BILINEAR))
    q = mesh(crop)
    assert q is not None, name
    out[name] = (crop, q)
  return out


def _methods(faces):
  (t, tp), (s, sp), (o, op) = faces[TARGET], faces[SOURCE], faces[OTHER]
  return {
      "faceswap": lambda rng: fs.faceswap(t, tp, s, sp, rng),
      "reenact": lambda rng: fs.reenact(o, op, tp, rng),
      "blend_other": lambda rng: fs.blend_other(t, tp, s, sp, rng),
  }


def _target_of(method):
  return OTHER if method == "reenact" else TARGET


def _timed(fn, runs=3):
  times = []
  for i in range(runs):
    start = time.perf_counter()
    result = fn(np.random.default_rng(i))
    times.append(time.perf_counter() - start)
  return result, np.array(times) * 1e3


def _warp_onto(image, image_points, onto_points):
  """`image` warped so that its mesh lands on `onto_points` (the module's piecewise affine map,
  which the first test checks against scikit-image's); NaN outside the mesh."""
  box = (0, 0) + image.shape[:2]
  simplex, _, xy = fs._triangle_map(onto_points, image_points, box)
  out = np.full((simplex.size, 3), np.nan)
  out[simplex >= 0] = fs._sample(image, xy[simplex >= 0])
  return out.reshape(image.shape)


def _corr(a, b, where):
  """Pearson correlation of the RGB values of two images at the pixels `where` both exist."""
  a, b = a[where].astype(np.float64).ravel(), b[where].astype(np.float64).ravel()
  both = np.isfinite(a) & np.isfinite(b)
  return float(np.corrcoef(a[both], b[both])[0, 1])


def _jpeg(rgb, quality=90):
  buf = io.BytesIO()
  Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
  return np.asarray(Image.open(buf))


def test_the_triangle_map_is_skimages_piecewise_affine_transform(faces):
  (_, tp), (_, sp) = faces[TARGET], faces[SOURCE]
  box = fs._box(tp, (SIDE, SIDE))
  simplex, _, mapped = fs._triangle_map(tp, sp, box)
  centres = fs._pixel_centres(box)
  # scipy's barycentric transforms (Delaunay.transform, behind find_simplex and skimage's
  # transform) call LAPACK per triangle: with multithreaded OpenBLAS on a busy machine that
  # took seconds; one thread takes milliseconds. face_swap has its own 2x2 inverses.
  with threadpoolctl.threadpool_limits(1):
    tri = spatial.Delaunay(tp)
    ref_simplex = tri.find_simplex(centres)
    tf = transform.PiecewiseAffineTransform.from_estimate(tp, sp)
    inside = simplex >= 0
    ref_mapped = tf(centres[inside])
  # The same pixels inside: the ones on a triangle's edge may go to either neighbour.
  np.testing.assert_array_equal(inside, ref_simplex >= 0)
  assert (simplex == ref_simplex).mean() > 0.99
  np.testing.assert_allclose(mapped[inside], ref_mapped, atol=1e-6)


@pytest.mark.parametrize("method", ["faceswap", "reenact", "blend_other"])
def test_only_the_face_changes_and_a_frame_takes_milliseconds(faces, method):
  target = faces[_target_of(method)][0]
  (fake, mask), ms = _timed(_methods(faces)[method], runs=5)
  print(f"\n{method}: {SIDE}x{SIDE} frame in {np.median(ms):.1f} ms (median of 5; "
        f"{', '.join(f'{t:.1f}' for t in ms)})")
  assert fake.dtype == np.uint8 and fake.shape == target.shape
  assert mask.dtype == np.float32 and mask.shape == target.shape[:2]
  assert mask.min() == 0.0 and mask.max() == 1.0
  face_area = spatial.ConvexHull(faces[_target_of(method)][1]).volume
  assert 0.3 * face_area < (mask > 0).sum() < 1.1 * face_area
  np.testing.assert_array_equal(fake[mask == 0], target[mask == 0])
  assert np.abs(fake.astype(int) - target)[mask > 0.5].mean() > 3  # the face did change
  # After a JPEG round trip the untouched region differs from the target by JPEG's own error,
  # but in the 16 px blocks it shares with the face.
  err_fake = np.abs(_jpeg(fake).astype(int) - target)[mask < 0.01]
  err_real = np.abs(_jpeg(target).astype(int) - target)[mask < 0.01]
  print(f"  JPEG 90, mask < 0.01: mean error {err_fake.mean():.2f} (the target's own: "
        f"{err_real.mean():.2f}), 99.9th percentile {np.percentile(err_fake, 99.9):.0f} "
        f"({np.percentile(err_real, 99.9):.0f})")
  assert err_fake.mean() < err_real.mean() + 0.1
  assert np.percentile(err_fake, 99.9) <= np.percentile(err_real, 99.9) + 3
  assert min(ms) < 100


@pytest.mark.parametrize("method", ["faceswap", "reenact", "blend_other"])
def test_the_rng_alone_decides(faces, method):
  fn = _methods(faces)[method]
  a, b = fn(np.random.default_rng(7)), fn(np.random.default_rng(7))
  np.testing.assert_array_equal(a[0], b[0])
  np.testing.assert_array_equal(a[1], b[1])
  c = fn(np.random.default_rng(8))
  assert not np.array_equal(a[1], c[1])


def test_faceswap_keeps_the_targets_geometry_and_takes_the_sources_texture(faces, mesh):
  (t, tp), (s, sp) = faces[TARGET], faces[SOURCE]
  fake, mask = fs.faceswap(t, tp, s, sp, np.random.default_rng(0))
  fp = mesh(fake)
  assert fp is not None
  size = fs.face_size(tp)
  to_target = np.linalg.norm(fp - tp, axis=1).mean() / size
  to_source = np.linalg.norm(fp - sp, axis=1).mean() / size
  apart = np.linalg.norm(tp - sp, axis=1).mean() / size
  # Both faces aligned onto the target's mesh: the swapped face's pixels follow the source's.
  source_on_target = _warp_onto(s, sp, tp)
  inner = mask > 0.5
  with_source = _corr(fake, source_on_target, inner)
  with_target = _corr(fake, t, inner)
  print(
      f"\nfaceswap: re-detected mesh to the target's {to_target:.3f} face sizes, to the "
      f"source's {to_source:.3f} (target to source {apart:.3f}); pixel correlation with the source {with_source:.3f}, the target "
      f"{with_target:.3f} (source with target {_corr(source_on_target, t, inner):.3f})")
  assert to_target < 0.05 and to_target < to_source
  assert with_source > with_target + 0.1


@pytest.mark.parametrize("target, driver", [(OTHER, TARGET), (TARGET, OTHER)])
def test_reenact_moves_the_mouth_to_the_drivers_and_keeps_the_identity(faces, mesh, target, driver):
  (t, tp), (d, dp), (s, sp) = faces[target], faces[driver], faces[SOURCE]
  fake, mask = fs.reenact(t, tp, dp, np.random.default_rng(0))
  fp = mesh(fake)
  assert fp is not None
  before, after, wanted = fs.mouth_opening(tp), fs.mouth_opening(fp), fs.mouth_opening(dp)
  inner = mask > 0.5
  with_target = _corr(fake, t, inner)
  others = {
      name: _corr(fake, _warp_onto(img, pts, fp), inner)
      for name, (img, pts) in ((driver, (d, dp)), (SOURCE, (s, sp)))
  }
  print(f"\nreenact {target} by {driver}: mouth opening {before:.3f} -> {after:.3f} "
        f"(driver {wanted:.3f}); pixel correlation with the target {with_target:.3f}, " +
        ", ".join(f"{k} {v:.3f}" for k, v in others.items()))
  # At least a third of the way to the driver's mouth.
  assert (after - before) / (wanted - before) > 0.33
  assert with_target > max(others.values()) + 0.1


def test_blend_other_shows_the_other_face_aligned_by_a_similarity(faces):
  (t, tp), (s, sp) = faces[TARGET], faces[SOURCE]
  fake, mask = fs.blend_other(t, tp, s, sp, np.random.default_rng(0))
  # scikit-image's least-squares similarity of the two meshes, warping the source onto the target.
  tf = transform.SimilarityTransform.from_estimate(tp - 0.5, sp - 0.5)  # target px -> source px
  np.testing.assert_allclose(fs.similarity(tp - 0.5, sp - 0.5), tf.params[:2], atol=1e-6)
  aligned = transform.warp(s, tf, order=1, preserve_range=True)
  inner = mask > 0.5
  with_source, with_target = _corr(fake, aligned, inner), _corr(fake, t, inner)
  print(f"\nblend_other: pixel correlation with the aligned source {with_source:.3f}, the target "
        f"{with_target:.3f}")
  assert with_source > with_target


def test_faces_at_the_frame_edge_iris_points_and_no_motion(faces):
  (t, tp), (s, sp) = faces[TARGET], faces[SOURCE]
  # The face cut by the frame's top and left edge; 478 points (with iris) as refine_landmarks
  # gives them.
  cut, cut_p = t[60:, 80:], np.concatenate([tp - [80, 60], tp[:10] - [80, 60]])
  assert (cut_p < 0).any()
  for fake, mask in (fs.faceswap(cut, cut_p, s, sp, np.random.default_rng(0)),
                     fs.reenact(cut, cut_p, faces[OTHER][1], np.random.default_rng(0)),
                     fs.blend_other(cut, cut_p, s, sp, np.random.default_rng(0))):
    assert fake.shape == cut.shape and mask.shape == cut.shape[:2] and mask.max() == 1.0
    np.testing.assert_array_equal(fake[mask == 0], cut[mask == 0])
  # A driver with the target's own expression moves nothing.
  fake, mask = fs.reenact(t, tp, tp, np.random.default_rng(0))
  np.testing.assert_array_equal(fake, t)
  assert not mask.any()
