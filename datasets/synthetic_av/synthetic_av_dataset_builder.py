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

The `real` and `real_tiny` configs are made from real faces and real speech instead
(real_render.py says how), with the real datasets' face manipulations:

    python -m fakedetect_jax.testing.real_media fetch      # once: faces and speech, ~10 MB
    tfds build datasets/synthetic_av --config=real [--manual_dir=<that folder>]

| category            | methods                                   |
|---------------------|-------------------------------------------|
| RealVideo-RealAudio | real                                      |
| RealVideo-FakeAudio | voice                                     |
| FakeVideo-RealAudio | faceswap, reenact, blend, flicker, lipsync |
| FakeVideo-FakeAudio | the same with -voice                      |

manual_dir defaults to fakedetect_jax.testing.real_media.default_dir(). `source_id` is the
target identity, `partner_id` the other identity a fake took its face or expression from, and
`speaker_id` / `other_speaker_id` the voices; all of them stay in one split.

The `partial` and `partial_tiny` configs hold embedded partial fakes for temporal forgery
localization (partial_render.py says how): astronaut videos that are real except for 1-3
windows of 0.3-1.5 s, each with one manipulation kind (blend, lipsync, voice or blend-voice),
stored densely (every frame; MediaConfig.dense) with their segments and per-frame labels, as the
LAV-DF builder stores them (builder_lib.localization_labels):

    tfds build datasets/synthetic_av --config=partial --data_dir=~/tensorflow_datasets
    tfds build datasets/synthetic_av --config=partial_tiny --data_dir=...    # the tests' build

| method      | windows                      | modify_type                    | category            |
|-------------|------------------------------|--------------------------------|---------------------|
| real        | none                         | real                           | RealVideo-RealAudio |
| blend       | 1-3, face blended            | visual_modified                | FakeVideo-RealAudio |
| lipsync     | 1-3, mouth on another speech | visual_modified                | FakeVideo-RealAudio |
| voice       | 1-3, converted voice         | audio_modified                 | RealVideo-FakeAudio |
| blend-voice | 1-3, blend and voice         | both_modified                  | FakeVideo-FakeAudio |
| mixed       | 2-3 of different kinds       | from the kinds present         | from the kinds      |

`fake_segments`, `visual_fake_segments`, `audio_fake_segments` ([N, 2] seconds, [start, end)),
`frame_label`, `frame_label_visual`, `frame_label_audio` (media/segments.py's frame-centre
convention), `modify_type` and `n_frames` are added to the features above; `label`,
`video_label` and `audio_label` are fake when a window touches the video, its picture or its
sound. `source_id` is the synthetic person, in one split only.
"""
import dataclasses
import multiprocessing
import os
import site

import numpy as np
import tensorflow_datasets as tfds
import tqdm
from etils import epath

from fakedetect_jax import builder_lib
from fakedetect_jax.builder_lib import Item
from fakedetect_jax.media import MediaConfig, write_video

from synthetic_av import partial_render, real_render, render


@dataclasses.dataclass(eq=False)
class SyntheticConfig(builder_lib.VideoConfig):
  identities: tuple = (14, 5, 5)  # synthetic people in train, validation, test
  copies: tuple = ()  # (method, videos per person); default: one of each
  duration: float = 1.6  # seconds
  fps: int = 25
  size: int = 144  # frame side, pixels
  seed: int = 0
  faces: str = "astronaut"  # or "real": real_render.py's identities, speech and methods
  partial: bool = False  # partial_render.py's windowed fakes, with localization labels


_ALL_ONCE = tuple((m, 1) for m in render.METHODS)
# Twice the real-video and blended methods: the quickstart task (blend against real video)
# then has 20 test videos a class in `small`.
_QUICKSTART_HEAVY = tuple(
    (m, 2 if m in ("real", "voice", "blend", "blend-voice") else 1) for m in render.METHODS)

# Three real videos a person: a learned fusion is fitted on validation, where one fully real
# video in eight would leave it a handful of negatives.
_PROOF = tuple((m, 3 if m == "real" else 1) for m in render.METHODS)

# Real faces: three real videos and three voice swaps a person, four face swaps (from as many
# sources as the person has partners), one video of every other method: the faceswap-vs-real
# task has 12 swapped and 18 real test videos with 3 test people.
_REAL = tuple((m, {"real": 3, "voice": 3, "faceswap": 4}.get(m, 1)) for m in real_render.METHODS)
_REAL_TINY = tuple((m, 2 if m in ("real", "faceswap") else 1)
                   for m in ("real", "voice", "faceswap", "reenact", "blend", "flicker", "lipsync",
                             "faceswap-voice"))

# Partial fakes: two real videos a person and six with windows, every kind and two mixed.
_PARTIAL = (("real", 2), ("mixed", 2)) + tuple((kind, 1) for kind in partial_render.KINDS)
# The tests' build: at seed 0 the mixed videos hold every kind, a voice window in each.
_PARTIAL_TINY = (("real", 1), ("blend", 1), ("mixed", 1))


def finish(ex, features):
  """FINISH of every config: the localization labels where the features hold segments (the
  partial configs), the plain merge of make_example otherwise."""
  if "fake_segments" in features:
    return builder_lib.localization_labels(ex, features)
  return {**ex, **features}


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
      SyntheticConfig(
          name="real",
          faces="real",
          identities=(7, 3, 3),
          copies=_REAL,
          duration=1.0,
          size=128,
          media=MediaConfig(num_frames=8, face_size=96, mouth_size=48),
          description="195 videos of 1 s at 128 px from 13 real faces and 11 real speakers; 8 "
          "frames of 96 px faces each. Needs the real media (manual_dir)."),
      SyntheticConfig(
          name="real_tiny",
          faces="real",
          identities=(7, 3, 3),
          copies=_REAL_TINY,
          duration=0.48,
          size=96,
          media=MediaConfig(num_frames=4, face_size=64, mouth_size=32),
          description="130 videos of 0.48 s at 96 px from 13 real faces: the test's build."),
      SyntheticConfig(
          name="partial",
          partial=True,
          identities=(14, 5, 5),
          copies=_PARTIAL,
          duration=4.0,
          size=128,
          media=MediaConfig.dense(face_size=64, mouth_size=32),
          description="192 videos of 4 s at 128 px, 144 with 1-3 fake windows of 0.3-1.5 s; "
          "every frame (64 px faces), segments and per-frame labels."),
      SyntheticConfig(
          name="partial_tiny",
          partial=True,
          identities=(4, 2, 2),
          copies=_PARTIAL_TINY,
          duration=3.0,
          size=96,
          media=MediaConfig.dense(face_size=64, mouth_size=32),
          description="24 videos of 3 s at 96 px, 16 with fake windows: the test's build."),
  ]
  DEFAULT_BUILDER_CONFIG_NAME = "small"
  FINISH = staticmethod(finish)
  DESCRIPTION = __doc__

  def extra_features(self):
    real_fake = ["real", "fake"]
    return {
        "video_label": tfds.features.ClassLabel(names=real_fake),
        "audio_label": tfds.features.ClassLabel(names=real_fake),
        "category": tfds.features.Text(),
        **({
            k: tfds.features.Text() for k in ("partner_id", "speaker_id", "other_speaker_id")
        } if self.builder_config.faces == "real" else {}),
        **(builder_lib.localization_features() if self.builder_config.partial else {})
    }

  def source_dir(self, dl_manager):
    root = epath.Path(dl_manager.download_dir) / "synthetic_av" / self.builder_config.name
    if self.builder_config.faces == "real":
      self._prepare_real(dl_manager, root)
    jobs = [(root / it.video_id, it) for it in self.plan(root) if not (root / it.video_id).exists()]
    if jobs:
      context = multiprocessing.get_context("spawn")  # TF is loaded here: never fork
      workers = min(len(jobs), self._workers or os.cpu_count() or 1)
      args = [(str(path), self.builder_config, it.source_id, it.method, it.video_id, it.extra)
              for path, it in jobs]
      worker = _render_one
      if self.builder_config.partial:  # plain arguments: its workers never import TensorFlow
        worker, args = partial_render.render_file, [_partial_job(*a) for a in args]
      # Spawned workers import this module as `synthetic_av...`: give them the folder that
      # `tfds build` (or the training code) put on the parent's sys.path.
      datasets_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
      with context.Pool(workers, initializer=site.addsitedir, initargs=(datasets_dir,)) as pool:
        for _ in tqdm.tqdm(
            pool.imap_unordered(worker, args),
            total=len(args),
            desc="rendering videos",
            unit="video"):
          pass
    return root

  def _media_root(self, dl_manager):
    """The real media folder: --manual_dir when it holds the files, else real_media's default."""
    from fakedetect_jax.testing import real_media
    try:
      manual = os.fspath(dl_manager.manual_dir)
    except Exception:  # TFDS refuses a manual_dir that does not exist (none was given)
      manual = None
    for root in (manual, real_media.default_dir()):
      if root and not real_render.missing(root):
        return root
    where = manual or real_media.default_dir()
    raise builder_lib.LayoutError(
        f"synthetic_av/{self.builder_config.name}: real media missing under {where} "
        f"({', '.join(real_render.missing(where)[:3])}...); run `{real_render.FETCH}` "
        "and pass its folder as --manual_dir")

  def _prepare_real(self, dl_manager, root):
    """Face crops and mesh tracks of every identity, and the speech, once (mediapipe)."""
    c = self.builder_config
    todo = [
        ident for ident in real_render.IDENTITIES
        if not (root / "identities" / f"{ident[0]}.npz").exists()
    ]
    if todo or not (root / "speech.npz").exists():
      media_root = self._media_root(dl_manager)
      (root / "identities").mkdir(parents=True, exist_ok=True)
      side = real_render.crop_side(c.size)
      for ident in tqdm.tqdm(todo, desc="face meshes", unit="identity"):
        real_render.prepare_identity(media_root, ident,
                                     os.fspath(root / "identities" / f"{ident[0]}.npz"), side,
                                     c.fps)
      if not (root / "speech.npz").exists():
        real_render.prepare_speech(media_root, os.fspath(root / "speech.npz"))

  def _plan_real(self, root):
    c = self.builder_config
    split_of = real_render.assign_splits(c.identities, c.seed)
    speaker_of = real_render.assign_speakers(split_of)
    yaws = {i: float(np.load(os.fspath(root / "identities" / f"{i}.npz"))["yaw"]) for i in split_of}
    pairs = real_render.partners(split_of, yaws, speaker_of)
    items = []
    for person, _, _, _ in real_render.IDENTITIES:
      mates, other_speaker = pairs[person]
      for method, copies in c.copies:
        cat, fake_video, fake_audio = real_render.category(method)
        visual = real_render.VISUAL[method]
        for k in range(copies):
          partner = mates[k % len(mates)]
          video_id = f"{cat}/{person}_{method}_{k}.mp4"
          items.append(
              Item(
                  split=split_of[person],
                  video_id=video_id,
                  path=os.fspath(root / video_id),
                  label="fake" if fake_video or fake_audio else "real",
                  method=method,
                  source_id=person,
                  extra=(("video_label", "fake" if fake_video else "real"),
                         ("audio_label", "fake" if fake_audio else "real"), ("category", cat),
                         ("partner_id", partner if visual not in (None, "lipsync") else ""),
                         ("speaker_id", speaker_of[person]),
                         ("other_speaker_id",
                          other_speaker if fake_audio or visual == "lipsync" else ""))))
    order = {s: i for i, s in enumerate(builder_lib.SPLITS)}
    return sorted(items, key=lambda it: order[it.split])

  def plan(self, root):
    """Every video of the config as an Item, in a fixed order."""
    c = self.builder_config
    if c.faces == "real":
      return self._plan_real(root)
    if c.partial:
      return self._plan_partial(root)
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

  def _plan_partial(self, root):
    c = self.builder_config
    items = []
    person = 0
    for split, count in zip(builder_lib.SPLITS, c.identities):
      for _ in range(count):
        source_id = f"id{c.seed:02d}{person:03d}"
        person += 1
        for method, copies in c.copies:
          for k in range(copies):
            windows = partial_windows(c, source_id, method, k)
            cat, fake_video, fake_audio = partial_render.category(windows)
            video_id = f"{cat}/{source_id}_{method}_{k}.mp4"
            items.append(
                Item(
                    split=split,
                    video_id=video_id,
                    path=os.fspath(root / video_id),
                    label="fake" if windows else "real",
                    method=method,
                    source_id=source_id,
                    extra=(("video_label", "fake" if fake_video else "real"),
                           ("audio_label", "fake" if fake_audio else "real"), ("category", cat),
                           ("modify_type", partial_render.modify_type(windows)),
                           *partial_render.segments(windows, c.fps).items())))
    return items

  def index(self, manual_dir):
    return self.plan(manual_dir)


def _partial_identity(config, source_id):
  return render.make_identity(config.seed * 100003 + int(source_id[-3:]))


def _copy(video_id):
  return int(video_id.rsplit("_", 1)[1].split(".")[0])


def _partial_job(path, config, source_id, method, video_id, extra):
  """partial_render.render_file's arguments for one video, planned segments included."""
  return (path, _partial_identity(config, source_id).seed, method, _copy(video_id), config.duration,
          config.fps, config.size, {
              k: v for k, v in extra if k in builder_lib.SEGMENT_KEYS
          })


def partial_windows(config, source_id, method, copy):
  """The fake windows (partial_render.Window) of one video of a partial config."""
  return partial_render.draw_windows(method,
                                     _partial_identity(config, source_id).seed,
                                     partial_render.video_seed(method, copy), config.duration,
                                     config.fps)


def render_partial(config, source_id, method, copy, windows=None):
  """partial_render.render_video of one video of a partial config; windows=() renders its
  real counterpart (the same person, camera and voice, no fake)."""
  return partial_render.render_video(
      _partial_identity(config, source_id), method, partial_render.video_seed(method, copy),
      config.duration, config.fps, config.size, windows)


def _render_real(path, config, person, method, video_id, extra):
  """(frames, audio, manipulation masks) of one video of a `real` config."""
  extra = dict(extra)
  root = os.path.dirname(os.path.dirname(path))
  names = [i[0] for i in real_render.IDENTITIES]
  partner = extra["partner_id"] or person  # (unused by the methods without a partner)
  load = lambda name: dict(np.load(os.path.join(root, "identities", name + ".npz")))
  speech = np.load(os.path.join(root, "speech.npz"))
  other = extra["other_speaker_id"] or extra["speaker_id"]
  copy = int(video_id.rsplit("_", 1)[1].split(".")[0])
  seed = lambda name: config.seed * 100003 + names.index(name) * 101
  seeds = (seed(person), seed(partner), seed(person) + 7 * real_render.METHODS.index(method) + 1)
  return real_render.render_video(
      load(person), load(partner), speech[extra["speaker_id"]], speech[other], method,
      config.duration, config.fps, config.size, seeds, copy)


def _render_one(args):
  path, config, source_id, method, video_id, extra = args
  if config.faces == "real":
    frames, audio, _ = _render_real(path, config, source_id, method, video_id, extra)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp.mp4"
    write_video(tmp, frames, fps=config.fps, audio=audio, sample_rate=render.SAMPLE_RATE)
    os.replace(tmp, path)
    return
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
