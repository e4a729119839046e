"""DeepfakeBench's face alignment (preprocessing/preprocess.py, img_align_crop): five key points
mapped by a least-squares similarity transform onto a fixed template, the frame warped with it.

Their template is the 5-point ArcFace one for 112 px (shifted 8 px right, as they do), scaled to
the output size, then shrunk about the top-left corner into a frame grown by `scale` (1.3): the
face keeps a 15% margin each side. Their key points come from dlib's 81-point model (points 37,
44, 30, 49, 55: an upper-lid point of each eye, the nose tip and two lip points beside the
mouth corners); that model is a separate download, so ours come from the face mesh instead:
eye centres, nose tip and mouth corners (landmarks.key_points), which is what the template's
five points stand for. The crops therefore sit within a few pixels of theirs, not exactly on.
Coordinates: the template and their warp use pixel indices (pixel i centred at i); the rest of
media uses continuous coordinates (pixel i spans [i, i+1)), hence the half-pixel shifts below.
"""
import numpy as np

# ArcFace's 112 x 112 five-point template: right eye, left eye, nose tip, right, left mouth
# corner (the subject's right: image left).
ARCFACE_112 = np.array([[30.2946, 51.6963], [65.5318, 51.5014], [48.0252, 71.7366],
                        [33.5493, 92.3655], [62.7299, 92.2041]])


def template(out_size, scale=1.3):
  """[5, 2] pixel-index positions of the key points in an out_size crop with margin `scale`."""
  dst = ARCFACE_112.copy()
  dst[:, 0] += 8.0  # their 112 x 112 case: the 96-wide template centred
  dst *= out_size / 112.0
  margin = out_size * (scale - 1) / 2.0
  return (dst + margin) * (out_size / (out_size + 2 * margin))


def similarity(src, dst):
  """3x3 similarity transform (rotation, uniform scale, shift) minimising the squared distance
    from the mapped src [N, 2] to dst [N, 2]: Umeyama (1991), the estimate skimage's
    SimilarityTransform (which DeepfakeBench calls) makes."""
  src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
  mu_s, mu_d = src.mean(0), dst.mean(0)
  s, d = src - mu_s, dst - mu_d
  u, sig, vt = np.linalg.svd(d.T @ s / len(src))
  flip = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
  rot = u @ flip @ vt
  k = float(np.sum(sig * np.diag(flip)) / (s**2).sum(1).mean())
  out = np.eye(3)
  out[:2, :2] = k * rot
  out[:2, 2] = mu_d - k * rot @ mu_s
  return out


def crop_matrix(key_points, out_size, scale=1.3):
  """2x3 map from output pixel (u, v) to source coordinates (crop.crop_matrix's convention) of
    the aligned crop whose key points (continuous source coordinates [5, 2]) fit the template."""
  to_out = similarity(np.asarray(key_points, np.float64) - 0.5, template(out_size, scale))
  back = np.linalg.inv(to_out)[:2]
  back[:, 2] += 0.5  # source pixel index -> continuous
  return back
