"""synthetic_av: an audio-visual deepfake dataset that needs no download.

    tfds build datasets/synthetic_av --data_dir=~/tensorflow_datasets            # config small
    tfds build datasets/synthetic_av --config=large --data_dir=~/tensorflow_datasets

Real mp4 files (H.264 + AAC) are rendered from a real face photo (render.py says how), kept in
`<data_dir>/downloads/synthetic_av/<config>/`, and encoded by the same media encoder as the
gated datasets. Four categories, as in FakeAVCeleb, with the visual cues as separate methods:

| category            | methods                                   | video_label | audio_label |
|---------------------|-------------------------------------------|-------------|-------------|
| RealVideo-RealAudio | real                                      | real        | real        |
| RealVideo-FakeAudio | voice                                     | real        | fake        |
| FakeVideo-RealAudio | blend, flicker, lipsync                   | fake        | real        |
| FakeVideo-FakeAudio | blend-voice, flicker-voice, lipsync-voice | fake        | fake        |

`label` is fake when either stream is. Each synthetic person (`source_id`) lives in one split
only (about 60/20/20). Everything is deterministic from the config's seed.
"""
import dataclasses
import multiprocessing
import os
import site

import tensorflow_datasets as tfds
import tqdm
from etils import epath

from fakedetect_jax import builder_lib
from fakedetect_jax.builder_lib import Item
from fakedetect_jax.media import MediaConfig, write_video

from synthetic_av import render


@dataclasses.dataclass(eq=False)
class SyntheticConfig(builder_lib.VideoConfig):
  identities: tuple = (14, 5, 5)  # synthetic people in train, validation, test
  copies: tuple = ()  # (method, videos per person); default: one of each
  duration: float = 1.6  # seconds
  fps: int = 25
  size: int = 144  # frame side, pixels
  seed: int = 0


_ALL_ONCE = tuple((m, 1) for m in render.METHODS)
# Twice the real-video and blended methods: the quickstart task (blend against real video)
# then has 20 test videos a class in `small`.
_QUICKSTART_HEAVY = tuple(
    (m, 2 if m in ("real", "voice", "blend", "blend-voice") else 1) for m in render.METHODS)

# Three real videos a person: a learned fusion is fitted on validation, where one fully real
# video in eight would leave it a handful of negatives.
_PROOF = tuple((m, 3 if m == "real" else 1) for m in render.METHODS)


class Builder(builder_lib.ManualVideoBuilder):
  """Rendered talking-face videos with visual and audio fakes."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [
      SyntheticConfig(
          name="small",
          identities=(14, 5, 5),
          copies=_QUICKSTART_HEAVY,
          media=MediaConfig(num_frames=8, face_size=128, mouth_size=64),
          description="288 videos of 1.6 s at 144 px; 8 frames of 128 px faces each. "
          "Builds in about 2 minutes on 2 cores."),
      SyntheticConfig(
          name="large",
          identities=(60, 20, 20),
          copies=tuple((m, 2) for m in render.METHODS),
          duration=4.0,
          size=256,
          media=MediaConfig(num_frames=32),
          description="1600 videos of 4 s at 256 px; 32 frames of 256 px faces each."),
      SyntheticConfig(
          name="tiny",
          identities=(2, 2, 2),
          copies=_ALL_ONCE,
          duration=1.0,
          size=128,
          media=MediaConfig(num_frames=4, face_size=64, mouth_size=32),
          description="48 videos of 1 s: a smoke test of the whole pipeline in seconds."),
      # Consecutive frames (one run of clip_len at 25 fps) for the temporal and lip-sync
      # branches: `even` sampling puts frames ~0.2 s apart, too far for flicker or lip motion.
      SyntheticConfig(
          name="tiny_clips",
          identities=(2, 2, 2),
          copies=_ALL_ONCE,
          duration=1.0,
          size=128,
          media=MediaConfig(
              num_frames=8, sampling="clips", clip_len=8, face_size=64, mouth_size=32),
          description="48 videos of 1 s; 8 consecutive frames of 64 px faces each."),
      # The fusion proof test (tests/test_synthetic_fusion.py): enough people that every branch
      # can learn its cue and be scored on unseen ones, small enough to build in about a minute.
      SyntheticConfig(
          name="proof_clips",
          identities=(6, 3, 3),
          copies=_PROOF,
          duration=1.0,
          size=128,
          media=MediaConfig(
              num_frames=16, sampling="clips", clip_len=8, face_size=48, mouth_size=32),
          description="120 videos of 1 s; 2 runs of 8 consecutive frames of 48 px faces each."),
      SyntheticConfig(
          name="small_clips",
          identities=(14, 5, 5),
          copies=_ALL_ONCE,
          duration=1.6,
          size=144,
          media=MediaConfig(
              num_frames=16, sampling="clips", clip_len=16, face_size=64, mouth_size=32),
          description="192 videos of 1.6 s; 16 consecutive frames of 64 px faces each."),
  ]
  DEFAULT_BUILDER_CONFIG_NAME = "small"
  DESCRIPTION = __doc__

  def extra_features(self):
    real_fake = ["real", "fake"]
    return {
        "video_label": tfds.features.ClassLabel(names=real_fake),
        "audio_label": tfds.features.ClassLabel(names=real_fake),
        "category": tfds.features.Text()
    }

  def source_dir(self, dl_manager):
    root = epath.Path(dl_manager.download_dir) / "synthetic_av" / self.builder_config.name
    jobs = [(root / it.video_id, it) for it in self.plan(root) if not (root / it.video_id).exists()]
    if jobs:
      context = multiprocessing.get_context("spawn")  # TF is loaded here: never fork
      workers = min(len(jobs), self._workers or os.cpu_count() or 1)
      args = [(str(path), self.builder_config, it.source_id, it.method, it.video_id)
              for path, it in jobs]
      # Spawned workers import this module as `synthetic_av...`: give them the folder that
      # `tfds build` (or the training code) put on the parent's sys.path.
      datasets_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
      with context.Pool(workers, initializer=site.addsitedir, initargs=(datasets_dir,)) as pool:
        for _ in tqdm.tqdm(
            pool.imap_unordered(_render_one, args),
            total=len(args),
            desc="rendering videos",
            unit="video"):
          pass
    return root

  def plan(self, root):
    """Every video of the config as an Item, in a fixed order."""
    c = self.builder_config
    items = []
    person = 0
    for split, count in zip(builder_lib.SPLITS, c.identities):
      for _ in range(count):
        source_id = f"id{c.seed:02d}{person:03d}"
        person += 1
        for method, copies in c.copies or _ALL_ONCE:
          cat, fake_video, fake_audio = render.category(method)
          for k in range(copies):
            video_id = f"{cat}/{source_id}_{method}_{k}.mp4"
            items.append(
                Item(
                    split=split,
                    video_id=video_id,
                    path=os.fspath(root / video_id),
                    label="fake" if fake_video or fake_audio else "real",
                    method=method,
                    source_id=source_id,
                    extra=(("video_label", "fake" if fake_video else "real"),
                           ("audio_label", "fake" if fake_audio else "real"), ("category", cat))))
    return items

  def index(self, manual_dir):
    return self.plan(manual_dir)


def _render_one(args):
  path, config, source_id, method, video_id = args
  person = int(source_id[-3:])
  identity = render.make_identity(config.seed * 100003 + person)
  copy = int(video_id.rsplit("_", 1)[1].split(".")[0])
  video_seed = render.METHODS.index(method) * 1000 + copy
  frames, audio = render.render(identity, method, video_seed, config.duration, config.fps,
                                config.size)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = path + ".tmp.mp4"
  write_video(tmp, frames, fps=config.fps, audio=audio, sample_rate=render.SAMPLE_RATE)
  os.replace(tmp, path)  # a half-written file is never taken for a rendered one
