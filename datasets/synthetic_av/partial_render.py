"""Embedded partial fakes: a real talking face with one to three manipulated windows.

The astronaut renderer of render.py (its envelope, voices, mouth and Blender), with the fake
confined in time, as in LAV-DF and AV-Deepfake1M: the video is real except for 1-3 windows of
0.3-1.5 s (non-overlapping, at least 0.3 s apart and at least 0.3 s from either end, all drawn
from the video's seed), each manipulated by one kind:

  blend        the face blended in (render.Blender, fixed strength), inside the window only: the
               blend switches on at the window's first frame and off after its last (no ramp),
               so the boundary is sharp in time;
  lipsync      the mouth follows another syllable envelope inside the window; audio unchanged;
  voice        the audio inside the window is a converted voice (render.voice with fake=True)
               on another envelope, spliced in sample-exactly; lips unchanged (so they no
               longer agree with the sound);
  blend-voice  both in the same window.

A video's `method` names what its windows hold: `real` (no window), one of the kinds above when
every window is of that kind (1-3 windows), or `mixed` (2-3 windows of different kinds).

Windows are whole frames at the video's fps: a window covering frames a..b-1 is the segment
[a / fps, b / fps) for the visual stream, and samples [a, b) * SAMPLE_RATE / fps, as
[a0 / SAMPLE_RATE, a1 / SAMPLE_RATE), for the audio stream (equal times at 25 fps). Real
content (camera, noise, the speaker's own voice and envelope) comes from one random stream and
the fakes from another: a video rendered with `windows=()` is its own real counterpart, equal to
it outside the windows.
"""
import dataclasses
import math
import os

import numpy as np

from fakedetect_jax.media import write_video

from synthetic_av import render

KINDS = ("blend", "lipsync", "voice", "blend-voice")
METHODS = ("real",) + KINDS + ("mixed",)
VISUAL_KINDS = ("blend", "lipsync", "blend-voice")
AUDIO_KINDS = ("voice", "blend-voice")
MIN_SECONDS, MAX_SECONDS = 0.3, 1.5  # window length
GAP_SECONDS = 0.3  # between two windows, and between a window and either end


@dataclasses.dataclass(frozen=True)
class Window:
  kind: str  # one of KINDS
  start: int  # first manipulated frame
  stop: int  # one past the last


def video_seed(method, copy):
  return METHODS.index(method) * 1000 + copy


def draw_windows(method, seed, video_seed, duration, fps):
  """The windows of one video, sorted by start; () for `real`."""
  if method not in METHODS:
    raise ValueError(f"unknown partial method {method!r}; known: {METHODS}")
  if method == "real":
    return ()
  rng = np.random.default_rng([seed, video_seed, 2])
  n_frames = int(round(duration * fps))
  min_len = math.ceil(MIN_SECONDS * fps - 1e-9)
  max_len = math.floor(MAX_SECONDS * fps + 1e-9)
  gap = math.ceil(GAP_SECONDS * fps - 1e-9)
  room = n_frames - 2 * gap  # frames the windows and the gaps between them may use
  fit = (room + gap) // (min_len + gap)
  if method == "mixed":
    count = int(rng.integers(2, 4))
    kinds = [str(k) for k in rng.choice(KINDS, count, replace=False)]
  else:
    count = int(rng.integers(1, 4))
    kinds = [method] * count
  count = min(count, fit)
  if count < (2 if method == "mixed" else 1):
    raise ValueError(f"{duration} s at {fps} fps has no room for the windows of {method!r}")
  kinds = kinds[:count]
  longest = min(max_len, (room - (count - 1) * gap) // count)  # so that all of them fit
  lengths = rng.integers(min_len, longest + 1, count)
  slack = room - lengths.sum() - (count - 1) * gap
  spare = rng.multinomial(slack, np.full(count + 1, 1.0 / (count + 1)))
  out, start = [], gap + spare[0]
  for i in range(count):
    out.append(Window(kinds[i], int(start), int(start + lengths[i])))
    start += lengths[i] + gap + spare[i + 1]
  return tuple(out)


def _samples(frame, fps):
  return int(round(frame * render.SAMPLE_RATE / fps))


def segments(windows, fps):
  """{fake_segments, visual_fake_segments, audio_fake_segments}: lists of [start, end] seconds."""
  visual = [[w.start / fps, w.stop / fps] for w in windows if w.kind in VISUAL_KINDS]
  audio = [[
      _samples(w.start, fps) / render.SAMPLE_RATE,
      _samples(w.stop, fps) / render.SAMPLE_RATE
  ] for w in windows if w.kind in AUDIO_KINDS]
  either = []  # their union, touching segments merged (exact, in float64)
  for start, end in sorted(visual + audio):
    if either and start <= either[-1][1]:
      either[-1][1] = max(either[-1][1], end)
    else:
      either.append([start, end])
  return {
      "fake_segments": either,
      "visual_fake_segments": visual,
      "audio_fake_segments": audio,
  }


def modify_type(windows):
  """One of builder_lib.MODIFY_TYPES."""
  visual = any(w.kind in VISUAL_KINDS for w in windows)
  audio = any(w.kind in AUDIO_KINDS for w in windows)
  return ("both_modified" if visual and audio else
          "visual_modified" if visual else "audio_modified" if audio else "real")


def category(windows):
  """(FakeAVCeleb-style category, fake video, fake audio) of a video with these windows."""
  fake_video = any(w.kind in VISUAL_KINDS for w in windows)
  fake_audio = any(w.kind in AUDIO_KINDS for w in windows)
  return (("FakeVideo" if fake_video else "RealVideo") + "-" +
          ("FakeAudio" if fake_audio else "RealAudio")), fake_video, fake_audio


def render_video(identity, method, video_seed, duration, fps, size, windows=None):
  """(frames uint8 [T,size,size,3], audio float32 mono at SAMPLE_RATE, segments, method).

  windows: None draws them from the seed (draw_windows); () renders the real counterpart."""
  if windows is None:
    windows = draw_windows(method, identity.seed, video_seed, duration, fps)
  real = np.random.default_rng([identity.seed, video_seed, 1])
  fake = np.random.default_rng([identity.seed, video_seed, 3])
  n = int(round(duration * fps))
  env = render.syllable_envelope(duration, render.SAMPLE_RATE, real)
  audio = render.voice(env, identity, False, real)
  per_frame = env.size // n
  opening = env[:n * per_frame].reshape(n, -1).mean(1)
  camera = render.draw_camera(real, size)
  noise = np.random.default_rng([identity.seed, video_seed, 4])

  # The fakes, drawn whether or not a window uses them (so each kind's draws stay put).
  other_mouth = render.syllable_envelope(duration, render.SAMPLE_RATE, fake)
  other_opening = other_mouth[:n * per_frame].reshape(n, -1).mean(1)
  other_voice = render.voice(
      render.syllable_envelope(duration, render.SAMPLE_RATE, fake), identity, True, fake)
  blender = render.Blender(fake)
  strength = np.zeros(n)
  level = fake.uniform(0.85, 1.0)
  for w in windows:
    if w.kind == "lipsync":
      opening[w.start:w.stop] = other_opening[w.start:w.stop]
    if w.kind in ("blend", "blend-voice"):
      strength[w.start:w.stop] = level
    if w.kind in AUDIO_KINDS:
      a, b = _samples(w.start, fps), _samples(w.stop, fps)
      audio[a:b] = other_voice[a:b]

  def heads():
    for i in range(n):
      head = render._draw_mouth(render._photo(), opening[i])
      yield blender(head, opening[i], strength[i]) if strength[i] > 0 else head

  frames = render.place(heads(), n, identity, size, fps, camera, noise)
  return frames, audio, segments(windows, fps), method


def render_file(job):
  """Renders one video into an mp4 (the builder's pool worker: no TensorFlow imported here).

  job: (path, identity seed, method, copy, duration, fps, size, planned segments)."""
  path, identity_seed, method, copy, duration, fps, size, planned = job
  frames, audio, segs, _ = render_video(
      render.make_identity(identity_seed), method, video_seed(method, copy), duration, fps, size)
  if segs != planned:
    raise AssertionError(f"{path}: rendered segments {segs} are not the planned {planned}")
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = path + ".tmp.mp4"
  write_video(tmp, frames, fps=fps, audio=audio, sample_rate=render.SAMPLE_RATE)
  os.replace(tmp, path)  # a half-written file is never taken for a rendered one
