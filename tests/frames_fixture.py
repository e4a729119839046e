"""Small face-crop datasets for trainer tests, made from a real face photo.

Real frames: the astronaut's face, jittered in position, scale and brightness. Fake frames: the
same, with the face region blended from a colour- and blur-shifted copy through a soft mask (the
spatial cue of face-swap blending).
"""
import numpy as np
from scipy import ndimage
from skimage import data, transform


def face_frames(n, size, fake, rng):
  photo = data.astronaut().astype(np.float32)
  out = np.empty((n, size, size, 3), np.uint8)
  yy, xx = np.mgrid[:size, :size] / size
  for i in range(n):
    cx, cy, half = 225 + rng.integers(-8, 9), 130 + rng.integers(-8, 9), 70 + rng.integers(-8, 9)
    crop = photo[cy - half:cy + half, cx - half:cx + half]
    crop = transform.resize(crop, (size, size), anti_aliasing=True) * rng.uniform(0.85, 1.15)
    if fake:
      shifted = ndimage.gaussian_filter(crop, (1.5, 1.5, 0)) * np.array([1.15, 0.9, 0.85])
      mask = np.exp(-(((xx - 0.5) / 0.22)**2 + ((yy - 0.55) / 0.28)**2)**2)[..., None]
      crop = mask * shifted + (1 - mask) * crop
    out[i] = np.clip(crop, 0, 255).astype(np.uint8)
  return out


def write_npz(path, size=64, videos_per_class=(6, 3, 3), frames_per_video=4, seed=0):
  """train/validation/test splits of whole videos, half real and half fake."""
  rng = np.random.default_rng(seed)
  arrays = {}
  for split, n_videos in zip(("train", "validation", "test"), videos_per_class):
    images, labels, videos = [], [], []
    for v in range(2 * n_videos):
      fake = v % 2
      images.append(face_frames(frames_per_video, size, fake, rng))
      labels += [fake] * frames_per_video
      videos += [v] * frames_per_video
    arrays[f"{split}_images"] = np.concatenate(images)
    arrays[f"{split}_labels"] = np.array(labels, np.int32)
    arrays[f"{split}_videos"] = np.array(videos, np.int32)
    arrays[f"{split}_methods"] = np.where(np.array(labels) > 0, "blend", "real")
  np.savez(path, **arrays)
  return path


def train_on_faces(model, config, devices, size=32, steps=3):
  """(final state, loss sum of each step): `steps` steps of the engine's train step on a mesh of
  `devices`, over 8 real and 8 blended crops (the batch reversed on odd steps)."""
  import jax
  from fakedetect_jax.train import state as state_lib
  from fakedetect_jax.train.step import make_train_step
  rng = np.random.default_rng(0)
  images = np.concatenate([face_frames(8, size, fake, rng) for fake in (0, 1)])
  labels = np.repeat([0, 1], 8).astype(np.int32)
  mesh = state_lib.make_mesh(devices)
  tx = state_lib.make_optimizer(config.optimizer, 100)
  state = jax.device_put(state_lib.create_state(model, tx, size, 0), state_lib.replicated(mesh))
  step = make_train_step(model, tx, config, mesh)
  losses = []
  for i in range(steps):
    # Odd steps see the batch in reverse order (images and labels alike).
    order = slice(None, None, -1 if i % 2 else 1)
    state, m = step(state, {
        "inputs": {
            "image": images[order]
        },
        "labels": labels[order]
    }, jax.random.key(1))
    losses.append(float(m["loss_sum"]))
  return state, losses
