"""A generated talking-face video to try a detector on (the embedded dataset's renderer).

The identity is one the dataset never uses (seed far from the builders' ids), so a quickstart
detector sees it for the first time, as it would a user's clip.
"""
from fakedetect_jax.input import sources
from fakedetect_jax.media import write_video

SAMPLE_IDENTITY_SEED = 987654321


def write_sample(path, fake=False, duration=2.0, fps=25, size=192, seed=0):
  """Writes an mp4 (H.264 + AAC) of a rendered face, face-blended when `fake`; returns path."""
  sources.import_builder_module("synthetic_av")  # puts datasets/ on sys.path
  from synthetic_av import render
  identity = render.make_identity(SAMPLE_IDENTITY_SEED + seed)
  method = "blend" if fake else "real"
  frames, audio = render.render(identity, method, seed, duration, fps, size)
  write_video(path, frames, fps=fps, audio=audio, sample_rate=render.SAMPLE_RATE)
  return path
