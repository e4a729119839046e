"""Renders the synthetic audio-visual videos: pure numpy, deterministic from a seed.

Every video starts from a real face photo (`skimage.data.astronaut()`), placed over a background
and moved by a slow camera sway and zoom. Its mouth opens with the syllable envelope of a
speech-like voice, so lips and audio agree in real videos. The fakes change one thing each:
  blend    the face region is blended from a blurred, colour-shifted, slightly offset copy through
           a soft elliptical mask (blur, a skin-tone edge and double edges, as face swaps leave);
  flicker  the same blend with a strength that jumps from frame to frame;
  lipsync  the mouth follows another envelope than the one in the audio;
  voice    the voice is converted: flat, shifted pitch, odd harmonics, no formants, a ring
           modulation (a vocoder-like timbre), on the same syllable timing.
"""
import dataclasses

import numpy as np
from scipy import ndimage
from skimage import data, transform

SAMPLE_RATE = 16000
# Where things are in the astronaut photo (face mesh on the photo, pixels): the head-and-
# shoulders square the videos are made from, and within it the face and the mouth.
_CROP = (15, 105, 240)  # top, left, side
_FACE = (108.0, 120.0, 52.0, 62.0)  # centre y, x and semi-axes y, x... in crop pixels
_MOUTH = (131.0, 118.0, 22.0)  # centre y, x, half width between the corners

VISUAL = {
    "real": None,
    "voice": None,
    "blend": "blend",
    "flicker": "flicker",
    "lipsync": "lipsync",
    "blend-voice": "blend",
    "flicker-voice": "flicker",
    "lipsync-voice": "lipsync"
}
METHODS = tuple(VISUAL)


def category(method):
  fake_video = VISUAL[method] is not None
  fake_audio = method == "voice" or method.endswith("-voice")
  return (("FakeVideo" if fake_video else "RealVideo") + "-" +
          ("FakeAudio" if fake_audio else "RealAudio")), fake_video, fake_audio


@dataclasses.dataclass(frozen=True)
class Identity:
  """What stays fixed for one synthetic person: look, voice and camera."""
  seed: int
  scale: float  # head square side / frame side
  brightness: float
  tint: tuple  # per-channel colour cast
  background: tuple  # two RGB colours of the background gradient
  f0: float  # voice pitch, Hz
  formants: tuple  # two formant centres, Hz


def make_identity(seed):
  r = np.random.default_rng([seed, 0])
  return Identity(
      seed=seed,
      scale=float(r.uniform(0.85, 1.05)),
      brightness=float(r.uniform(0.85, 1.15)),
      tint=tuple(float(x) for x in r.uniform(0.93, 1.07, 3)),
      background=tuple(tuple(int(c) for c in r.integers(20, 235, 3)) for _ in range(2)),
      f0=float(r.uniform(100, 220)),
      formants=(float(r.uniform(500, 850)), float(r.uniform(1100, 2100))))


_PHOTO = None


def _photo():
  global _PHOTO
  if _PHOTO is None:
    top, left, side = _CROP
    _PHOTO = data.astronaut()[top:top + side, left:left + side].astype(np.float32)
  return _PHOTO


def syllable_envelope(duration, rate, rng):
  """A speech-like loudness envelope in [0, 1]: raised-cosine syllables at ~4 per second."""
  n = int(duration * rate)
  t = np.arange(n) / rate
  env = np.zeros(n, np.float32)
  onset = rng.uniform(0.0, 0.2)
  while onset < duration:
    length = rng.uniform(0.12, 0.26)
    inside = (t >= onset) & (t < onset + length)
    env[inside] += rng.uniform(0.6, 1.0) * np.sin(np.pi * (t[inside] - onset) / length)**2
    onset += length + rng.exponential(0.12) + 0.03
  return np.clip(env, 0.0, 1.0)


def voice(env, identity, fake, rng):
  """A voiced signal with the loudness envelope `env` (sampled at SAMPLE_RATE)."""
  t = np.arange(env.size) / SAMPLE_RATE
  if fake:
    f0 = np.full_like(t, identity.f0 * 1.35)
    harmonics = range(1, 30, 2)
    weight = lambda f: 1.0 / (f / identity.f0)
  else:
    drift = np.cumsum(rng.normal(0, 1, t.size)) / np.sqrt(t.size) * 0.5
    f0 = identity.f0 * (1 + 0.03 * np.sin(2 * np.pi * 5.5 * t) + 0.04 * drift)
    harmonics = range(1, 30)
    f1, f2 = identity.formants
    weight = lambda f: (np.exp(-((f - f1) / 180)**2) + 0.7 * np.exp(-(
        (f - f2) / 250)**2) + 0.05) / np.sqrt(f / identity.f0)
  phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
  signal = np.zeros_like(t)
  for h in harmonics:
    f = h * f0
    signal += np.where(f < SAMPLE_RATE / 2 - 500, weight(f), 0.0) * np.sin(h * phase)
  if fake:
    signal *= 0.6 + 0.4 * np.sin(2 * np.pi * 30 * t)
  else:
    signal += 0.05 * rng.normal(0, 1, t.size)  # breath
  signal *= env
  return (0.3 * signal / (np.abs(signal).max() + 1e-6)).astype(np.float32)


def _ellipse(shape, cy, cx, ry, rx, feather):
  yy, xx = np.mgrid[:shape[0], :shape[1]].astype(np.float32)
  d = np.sqrt(((yy - cy) / ry)**2 + ((xx - cx) / rx)**2)
  return np.clip((1.0 - d) * min(ry, rx) / feather + 0.5, 0.0, 1.0)


def _draw_mouth(head, opening):
  """Opens the mouth: a dark feathered ellipse between the lips, taller as `opening` grows.

  Draws on a copy, touching only a window around the mouth.
  """
  cy, cx, half = _MOUTH
  ry = 1.0 + 9.0 * opening
  top, left = int(cy) - 16, int(cx - half) - 4
  window = head[top:top + 36, left:left + int(2 * half) + 8]
  mask = _ellipse(window.shape, cy + 0.3 * ry - top, cx - left, ry, half * (0.55 + 0.25 * opening),
                  1.2)[..., None]
  out = head.copy()
  out[top:top + 36, left:left + int(2 * half) + 8] = window * (1 - mask) + _MOUTH_COLOUR * mask
  return out


_MOUTH_COLOUR = np.array([70.0, 25.0, 30.0], np.float32)


class Blender:
  """The face-swap blending cue for one video (fixed colour shift, blur and offset)."""

  def __init__(self, rng):
    self.gain = rng.uniform(0.10, 0.20, 3) * rng.choice([-1, 1], 3) + 1.0
    self.sigma = rng.uniform(1.2, 2.2)
    self.offset = rng.uniform(1.5, 3.0, 2) * rng.choice([-1, 1], 2)
    cy, cx, ry, rx = _FACE
    self.mask = _ellipse((_CROP[2], _CROP[2]), cy, cx, ry, rx, 5.0)[..., None]

    # The swapped-in face is made once per video; its mouth is drawn per frame.
    self.swapped = ndimage.shift(
        ndimage.gaussian_filter(_photo(), (self.sigma, self.sigma, 0)), (*self.offset, 0),
        order=1,
        mode="nearest") * self.gain

  def __call__(self, head, opening, strength):
    m = self.mask * strength
    return head * (1 - m) + _draw_mouth(self.swapped, opening) * m


def render(identity, method, video_seed, duration, fps, size):
  """(frames uint8 [T,size,size,3], audio float32 mono at SAMPLE_RATE) of one video."""
  rng = np.random.default_rng([identity.seed, video_seed, 1])
  cue = VISUAL[method]
  _, _, fake_audio = category(method)
  env = syllable_envelope(duration, SAMPLE_RATE, rng)
  audio = voice(env, identity, fake_audio, rng)
  mouth_env = syllable_envelope(duration, SAMPLE_RATE, rng) if cue == "lipsync" else env
  n = int(round(duration * fps))
  # Mouth opening per frame: the envelope averaged over the frame's time span.
  opening = mouth_env[:n * (mouth_env.size // n)].reshape(n, -1).mean(1)
  blender = Blender(rng) if cue in ("blend", "flicker") else None
  strength = (
      rng.uniform(0.0, 1.0, n)**0.7 if cue == "flicker" else np.full(n, rng.uniform(0.85, 1.0)))
  camera = draw_camera(rng, size)

  def heads():
    for i in range(n):
      head = _draw_mouth(_photo(), opening[i])
      yield head if blender is None else blender(head, opening[i], strength[i])

  return place(heads(), n, identity, size, fps, camera, rng), audio


def draw_camera(rng, size):
  """(sway [2] px, freq [2] Hz, phase [3], zoom amplitude) of a video's camera motion."""
  sway = rng.uniform(0.02, 0.06, 2) * size
  freq = rng.uniform(0.2, 0.6, 2)
  phase = rng.uniform(0, 2 * np.pi, 3)
  return sway, freq, phase, rng.uniform(0.0, 0.06)


def place(heads, n, identity, size, fps, camera, noise):
  """uint8 [n, size, size, 3]: each head (an RGB crop of the photo, taken from the iterable
  `heads` one frame at a time) in the identity's look over its background gradient, moved by
  the camera's sway and zoom, plus sensor noise drawn from `noise` after each frame's head."""
  sway, freq, phase, zoom_amp = camera
  y = np.linspace(0, 1, size, dtype=np.float32)[:, None, None]
  bg0, bg1 = (np.array(c, np.float32) for c in identity.background)
  background = bg0 * (1 - y) + bg1 * y + np.zeros((size, size, 3), np.float32)
  side = _CROP[2]
  head_alpha = _ellipse((side, side), side * 0.58, side * 0.5, side * 0.62, side * 0.48, 6.0)
  frames = np.empty((n, size, size, 3), np.uint8)
  look = np.float32(identity.brightness) * np.array(identity.tint, np.float32)
  for i, head in zip(range(n), heads):
    t = i / fps
    head = np.concatenate([head * look, head_alpha[..., None]], -1)
    scale = identity.scale * size / side * (1 + zoom_amp * np.sin(2 * np.pi * 0.3 * t + phase[2]))
    shift = (size - side * scale) / 2 + sway * np.sin(2 * np.pi * freq * t + phase[:2])
    tf = transform.AffineTransform(scale=scale, translation=(shift[1], shift[0]))
    placed = transform.warp(
        head, tf.inverse, output_shape=(size, size), order=1, cval=0.0, preserve_range=True)
    alpha = placed[..., 3:]
    frame = placed[..., :3] * alpha + background * (1 - alpha)
    frames[i] = np.clip(frame + noise.normal(0, 2.0, frame.shape), 0, 255).astype(np.uint8)
  return frames
