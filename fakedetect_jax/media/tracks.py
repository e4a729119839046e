"""Per-video post-processing of the sampled frames: face track, smoothing, crops, mouths.

Runs after the decoding pass, on what it kept per frame (detections, patches, mesh results),
so every decision can look at the whole sampled sequence: which face to follow, how to smooth
its box and the mouth, and what to do where the face is missing.
"""
import cv2
import numpy as np

from fakedetect_jax.media import align, crop, errors, faces, landmarks


def _smooth_angle(angles, times, found, sigma):
  cs = faces.smooth_series(np.stack([np.cos(angles), np.sin(angles)], 1), times, found, sigma)
  return np.arctan2(cs[:, 1], cs[:, 0])


def faces_over_time(recs, times, cfg, report):
  """Choose the face track, smooth its boxes, crop every sampled frame (no-face policy).

    Returns found, crops, boxes, scores, geo (per crop: (patch, 2x3 crop matrix), reused for
    the mouth), mouths (the chosen face's mesh results) and landmarks (FACE_POINTS in crop
    coordinates, NaN without mesh points).
    """
  u_n, s = len(recs), cfg.face_size
  if cfg.deepfakebench:  # the largest face of each frame, aligned only where the mesh ran
    chosen = [r.dets[0] if r.dets and r.mouths[0] is not None else None for r in recs]
    lost = sum(bool(r.dets) and c is None for r, c in zip(recs, chosen))
    if lost:
      report.warnings.append(f"face mesh found no key points on {lost} dlib faces: treated "
                             "as frames without a face")
  else:
    chosen = faces.choose_track([r.dets for r in recs], times)
  found = np.array([c is not None for c in chosen], bool)
  out = dict(
      found=found,
      crops=np.zeros((u_n, s, s, 3), np.uint8),
      boxes=np.full((u_n, 4), np.nan, np.float32),
      scores=np.array([c.score if c is not None else 0.0 for c in chosen], np.float32),
      geo=[None] * u_n,
      mouths=[r.mouths[r.dets.index(c)] if c is not None else None for r, c in zip(recs, chosen)],
      landmarks=np.full((u_n, landmarks.NUM_POINTS, 2), np.nan, np.float16))
  report.counts["no_face_frames"] = int((~found).sum())
  if not found.any():
    if cfg.require_face:
      raise errors.NoFaceError(report.path, f"none in {u_n} sampled frames")
    report.warnings.append(f"no face in any of the {u_n} sampled frames")
    return out
  if not found.all():
    report.warnings.append(f"no face in {int((~found).sum())} of {u_n} sampled frames "
                           f"(policy {cfg.no_face!r})")
  if cfg.deepfakebench:
    matrices, boxes = _aligned(chosen, out["mouths"], found, cfg)
  else:
    matrices, boxes = _smoothed(chosen, times, found, cfg)
  for u, r in enumerate(recs):
    if not found[u] and cfg.no_face == "mark":
      continue
    out["boxes"][u] = boxes[u]
    patch = r.patches[r.dets.index(chosen[u])] if found[u] else r.fallback
    out["crops"][u] = crop.warp_matrix(patch, matrices[u], s)
    out["geo"][u] = (patch, matrices[u])
    if out["mouths"][u] is not None:
      out["landmarks"][u] = crop.source_to_crop(out["mouths"][u][5], matrices[u])
  return out


def _smoothed(chosen, times, found, cfg):
  """Crop matrices and boxes of the default protocol: the track's boxes smoothed in time,
    squares of face_scale times the box side, optionally turned to level the eyes."""
  u_n = len(chosen)
  raw = np.zeros((u_n, 4))
  eye_angle = np.zeros(u_n)
  for u, c in enumerate(chosen):
    if c is not None:
      raw[u] = [(c.box[0] + c.box[2]) / 2, (c.box[1] + c.box[3]) / 2, c.box[2] - c.box[0],
                c.box[3] - c.box[1]]
      if c.eyes is not None:
        d = c.eyes[1] - c.eyes[0]
        eye_angle[u] = np.arctan2(d[1], d[0])
  sm = faces.smooth_series(raw, times, found, cfg.smooth_seconds)
  angle = (
      _smooth_angle(eye_angle, times, found, cfg.smooth_seconds)
      if cfg.align_eyes else np.zeros(u_n))
  cx, cy, w, h = sm.T
  boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
  side = cfg.face_scale * np.maximum(w, h)
  matrices = [
      crop.crop_matrix((cx[u], cy[u]), side[u], angle[u], cfg.face_size) for u in range(u_n)
  ]
  return matrices, boxes


def _aligned(chosen, mouths, found, cfg):
  """Crop matrices and boxes of the deepfakebench protocol: each found frame aligned by its own
    key points (no smoothing, as theirs); other frames take the nearest found frame's."""
  u_n = len(chosen)
  mats, boxes = np.zeros((u_n, 6)), np.zeros((u_n, 4))
  for u in np.flatnonzero(found):
    kp = landmarks.key_points(mouths[u][5])
    mats[u] = align.crop_matrix(kp, cfg.face_size, cfg.face_scale).ravel()
    boxes[u] = chosen[u].box
  mats = faces.smooth_series(mats, np.zeros(u_n), found, 0.0)  # sigma 0: only fills the gaps
  boxes = faces.smooth_series(boxes, np.zeros(u_n), found, 0.0)
  return [m.reshape(2, 3) for m in mats], boxes


def mouths_over_time(face, times, cfg, report):
  """Smooth the mouth geometry found by the mesh and cut the stabilised mouth crops."""
  u_n, m = len(times), cfg.mouth_size
  out = dict(
      found=np.zeros(u_n, bool),
      crops=np.zeros((u_n, m, m), np.uint8),
      boxes=np.full((u_n, 4), np.nan, np.float32),
      ear=np.zeros(u_n, np.float32))
  if not cfg.landmarks:
    return out
  geom = np.zeros((u_n, 4))  # cx, cy, width, angle in source coordinates
  for u, mo in enumerate(face["mouths"]):
    if mo is not None:
      geom[u] = mo[:4]
      out["ear"][u] = mo[4]
      out["found"][u] = True
  found = out["found"]
  missing = int(face["found"].sum() - found.sum())
  report.counts["no_mouth_frames"] = missing
  if missing:
    report.warnings.append(f"face mesh found no face in {missing} face crops")
  if not found.any():
    return out
  sm = faces.smooth_series(geom[:, :3], times, found, cfg.smooth_seconds)
  ang = _smooth_angle(geom[:, 3], times, found, cfg.smooth_seconds)
  for u, g in enumerate(face["geo"]):
    if g is None:
      continue
    cx, cy, width = sm[u]
    side = cfg.mouth_scale * width
    rgb = crop.warp(g[0], (cx, cy), side, ang[u], m)
    out["crops"][u] = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    out["boxes"][u] = [cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]
  return out
