"""Training-data tricks: self-blended pseudo-fakes and robustness distortions on uint8 faces."""
import numpy as np
import pytest

import frames_fixture
from fakedetect_jax.input import augment, sbi

FACES = frames_fixture.face_frames(4, 64, 0, np.random.default_rng(0))


def _psnr(a, b):
  mse = np.mean((a.astype(np.float64) - b)**2)
  return 10 * np.log10(255**2 / max(mse, 1e-12))


def test_self_blend_changes_the_face_region_only_through_its_mask():
  for seed in range(6):
    rng = np.random.default_rng(seed)
    out, mask = sbi.self_blend(FACES[0], rng)
    assert out.dtype == np.uint8 and out.shape == FACES[0].shape
    assert mask.shape == (64, 64) and 0 <= mask.min() and mask.max() <= 1
    assert mask[0, 0] < 1e-3 and mask[-1, -1] < 1e-3 and mask[35, 32] >= 0.2  # corners vs face
    inside, outside = mask > 0.2, mask < 1e-3
    changed = np.abs(out.astype(int) - FACES[0]).max(axis=-1) > 0
    # Either the copy outside the mask is the untouched target, or the target was the altered
    # copy (then the whole frame changed); inside the mask the source always shows.
    assert not changed[outside].any() or changed[outside].mean() > 0.5
    assert changed[inside].mean() > 0.5


def test_landmarks_shape_the_mask_as_their_convex_hull():
  rng = np.random.default_rng(0)
  # A landmark set covering only the left half of the crop: the hull is that half.
  lm = np.array([[4, 8], [28, 8], [28, 56], [4, 56], [16, 30]], float)
  hard = sbi.face_mask((64, 64), rng, lm)
  assert hard[30, 16] == 1 and hard[30, 50] == 0 and hard[:, 30:].sum() == 0
  _, mask = sbi.self_blend(FACES[0], rng, lm)
  assert mask[:, :16].mean() > 10 * mask[:, 48:].mean()


def test_apply_augmentations_turns_reals_into_fakes_and_leaves_inputs_alone():
  images, labels = np.concatenate([FACES, FACES]), np.array([0] * 4 + [1] * 4)
  before = images.copy()
  out, new = augment.apply_augmentations(images, labels, np.random.default_rng(0), {"sbi": 1.0})
  assert (new == 1).all() and np.array_equal(images, before)
  assert all(np.abs(out[i].astype(int) - images[i]).max() > 0 for i in range(4))
  assert np.array_equal(out[4:], images[4:])  # fakes are not blended again
  same, lab = augment.apply_augmentations(images, labels, np.random.default_rng(0), {})
  assert np.array_equal(same, images) and np.array_equal(lab, labels)
  # Deterministic in the generator: a resumed run sees the same batch.
  cfg = dict(sbi=0.5, jpeg=0.5, blur=0.5, noise=0.5, color=0.5, downscale=0.5)
  a = augment.apply_augmentations(images, labels, np.random.default_rng(3), cfg)
  b = augment.apply_augmentations(images, labels, np.random.default_rng(3), cfg)
  assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


@pytest.mark.parametrize("kind", sorted(augment.LEVELS))
def test_each_distortion_degrades_more_with_each_level(kind):
  psnr = [_psnr(augment.perturb(FACES, kind, level), FACES) for level in range(1, 6)]
  assert all(a > b for a, b in zip(psnr, psnr[1:])), psnr
  assert psnr[-1] < 35
  out, _ = augment.apply_augmentations(FACES, np.zeros(4), np.random.default_rng(0), {kind: 1.0})
  assert out.dtype == np.uint8 and out.shape == FACES.shape and _psnr(out, FACES) < 60
  assert np.array_equal(
      augment.perturb(FACES, kind, 3, seed=1), augment.perturb(FACES, kind, 3, seed=1))


def test_jpeg_quality_orders_the_damage_and_errors_name_the_choices():
  out = augment.jpeg(FACES[0], 10)
  assert _psnr(out, FACES[0]) < _psnr(augment.jpeg(FACES[0], 90), FACES[0])
  with pytest.raises(ValueError, match="jpeg, blur"):
    augment.perturb(FACES, "sepia", 1)
  with pytest.raises(ValueError, match="1-5"):
    augment.perturb(FACES, "jpeg", 6)
