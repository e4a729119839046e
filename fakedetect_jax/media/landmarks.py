"""Face mesh on the face crops: lip geometry for the mouth crop, eye aspect ratio for blinks.

The mesh runs on the face crop, not the whole frame: on a whole 480p frame with a small face it
finds the face in a few frames only, on a crop around the detector box in all of them.
"""
import numpy as np

# Canonical 468-point mesh indices.
MOUTH_CORNERS = (61, 291)
OUTER_LIPS = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91,
              146)
# Per eye: corner, corner, upper, upper, lower, lower (upper i pairs with lower i).
RIGHT_EYE = (33, 133, 160, 158, 144, 153)
LEFT_EYE = (263, 362, 387, 385, 373, 380)

# The stored face landmarks (example key "face_landmarks"): 81 mesh points laid out as the
# 81-point dlib model SBI and DeepfakeBench use (iBUG 68 order, then 13 forehead points from the
# subject's right temple to the left, the order SBI's reorder_landmark gives), so code written
# for those index ranges (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, lips 48-67) reads them
# unchanged. "Right" is the subject's: image left in a frontal face. Mesh points were picked
# along each mesh contour at the iBUG spacing (lip and jaw points evenly between the corners /
# the chin); the forehead row is the top of the mesh's face oval, close to the hairline where the
# 81-point model puts its extra points.
JAW = (127, 234, 93, 132, 58, 172, 136, 149, 152, 378, 365, 397, 288, 361, 323, 454, 356)
BROWS = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)  # right outer->inner, left inner->outer
NOSE = (168, 197, 5, 1, 98, 97, 2, 326, 327)  # bridge top->tip (1: the mesh's tip), nostrils
# iBUG eye order: right: outer corner, upper outer, upper inner, inner corner, lower inner,
# lower outer; left: inner corner, upper inner, upper outer, outer corner, lower outer, inner.
EYES = (33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380)
LIPS = (61, 40, 37, 0, 267, 270, 291, 321, 314, 17, 84, 91, 78, 81, 13, 311, 308, 402, 14, 178)
FOREHEAD = (162, 21, 54, 103, 67, 109, 10, 338, 297, 332, 284, 251, 389)
FACE_POINTS = JAW + BROWS + NOSE + EYES + LIPS + FOREHEAD
NUM_POINTS = len(FACE_POINTS)  # 81; the first 68 are the iBUG-68 equivalents


def key_points(points):
  """[..., 81, 2] stored face landmarks -> [..., 5, 2] DeepfakeBench's five key points in
  their template's order: right eye centre, left eye centre (means of the six iBUG eye
  points), nose tip, right and left mouth corner."""
  p = np.asarray(points)
  eyes = [p[..., 36:42, :].mean(-2), p[..., 42:48, :].mean(-2)]
  return np.stack(eyes + [p[..., 30, :], p[..., 48, :], p[..., 54, :]], -2)


class FaceMesh:
  """mediapipe face mesh in tracking mode: frames of one video must come in time order.

    Tracking (reuse of the last landmarks as the next region) is ~2x faster than a detection
    per image, and the crops are already centred on the face, so it rarely loses it.
    """

  def __init__(self, min_score=0.5):
    from fakedetect_jax.media.faces import import_mediapipe
    import_mediapipe()
    from mediapipe.python.solutions import face_mesh
    self._fm = face_mesh.FaceMesh(
        static_image_mode=False,
        max_num_faces=1,
        refine_landmarks=False,
        min_detection_confidence=min_score,
        min_tracking_confidence=min_score)

  def landmarks(self, rgb):
    """float64 [468, 2] in continuous pixel coordinates of `rgb`, or None."""
    res = self._fm.process(rgb)
    if not res.multi_face_landmarks:
      return None
    h, w = rgb.shape[:2]
    lm = res.multi_face_landmarks[0].landmark
    return np.array([(p.x * w, p.y * h) for p in lm], np.float64)

  def reset(self):
    """Forget the tracked face: the next frame is treated as a new video's first.

        Restarting the graph run (~1 ms) is much cheaper than building a new graph, and the
        landmarks then match a fresh FaceMesh exactly (tests/media/test_media_faces.py).
        """
    self._fm.reset()

  def close(self):
    self._fm.close()


def eye_aspect_ratio(pts):
  """Mean over both eyes of (two lid distances) / (2 * eye width); ~0.3 open, <0.15 closed."""
  ears = []
  for c0, c1, u0, u1, l0, l1 in (RIGHT_EYE, LEFT_EYE):
    width = np.linalg.norm(pts[c0] - pts[c1])
    lids = np.linalg.norm(pts[u0] - pts[l0]) + np.linalg.norm(pts[u1] - pts[l1])
    ears.append(lids / (2 * width) if width > 0 else 0.0)
  return float(np.mean(ears))


def mouth_geometry(pts):
  """(centre [2], width, angle) of the mouth from source-coordinate landmarks."""
  centre = pts[list(OUTER_LIPS)].mean(0)
  a, b = pts[MOUTH_CORNERS[0]], pts[MOUTH_CORNERS[1]]
  d = b - a
  return centre, float(np.hypot(*d)), float(np.arctan2(d[1], d[0]))
