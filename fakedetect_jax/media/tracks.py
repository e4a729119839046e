"""Per-video post-processing of the sampled frames: face track, smoothing, crops, mouths.

Runs after the decoding pass, on what it kept per frame (detections, patches, mesh results),
so every decision can look at the whole sampled sequence: which face to follow, how to smooth
its box and the mouth, and what to do where the face is missing.
"""
import cv2
import numpy as np

from fakedetect_jax.media import crop, errors, faces


def _smooth_angle(angles, times, found, sigma):
  cs = faces.smooth_series(np.stack([np.cos(angles), np.sin(angles)], 1), times, found, sigma)
  return np.arctan2(cs[:, 1], cs[:, 0])


def faces_over_time(recs, times, cfg, report):
  """Choose the face track, smooth its boxes, crop every sampled frame (no-face policy)."""
  u_n, s = len(recs), cfg.face_size
  chosen = faces.choose_track([r.dets for r in recs], times)
  found = np.array([c is not None for c in chosen], bool)
  crops = np.zeros((u_n, s, s, 3), np.uint8)
  boxes = np.full((u_n, 4), np.nan, np.float32)
  scores = np.array([c.score if c is not None else 0.0 for c in chosen], np.float32)
  geo = [None] * u_n  # (patch, centre, side, angle) of each crop, reused for the mouth
  mouths = [r.mouths[r.dets.index(c)] if c is not None else None for r, c in zip(recs, chosen)]
  report.counts["no_face_frames"] = int((~found).sum())
  if not found.any():
    if cfg.require_face:
      raise errors.NoFaceError(report.path, f"none in {u_n} sampled frames")
    report.warnings.append(f"no face in any of the {u_n} sampled frames")
    return dict(found=found, crops=crops, boxes=boxes, scores=scores, geo=geo, mouths=mouths)
  if not found.all():
    report.warnings.append(f"no face in {int((~found).sum())} of {u_n} sampled frames "
                           f"(policy {cfg.no_face!r})")

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
  for u, r in enumerate(recs):
    if not found[u] and cfg.no_face == "mark":
      continue
    cx, cy, w, h = sm[u]
    boxes[u] = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
    patch = r.patches[r.dets.index(chosen[u])] if found[u] else r.fallback
    side = cfg.face_scale * max(w, h)
    crops[u] = crop.warp(patch, (cx, cy), side, angle[u], s)
    geo[u] = (patch, (cx, cy), side, angle[u])
  return dict(found=found, crops=crops, boxes=boxes, scores=scores, geo=geo, mouths=mouths)


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
