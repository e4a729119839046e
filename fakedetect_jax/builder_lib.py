"""What the gated-dataset TFDS builders (datasets/ffpp, celeb_df, dfdc, fakeavceleb) share.

A builder only indexes its layout into `Item`s (one per video, split already assigned); this
module turns them into examples: the media encoder's arrays plus the label features every
dataset carries (`video_id`, `label`, `method`, `source_id`), locally with the encoder's
process pool (one pool and one progress bar with ETA for the whole build) or, when Beam
options are given (`tfds build ... --beam_pipeline_options=...`), as a Beam pipeline.

Media settings: every builder config carries a MediaConfig (the leaderboard protocol by
default). `FAKEDETECT_MEDIA="num_frames=4,face_size=64"` or the constructor argument
`media=` change it; the config is then renamed (e.g. `c23+face_size64+num_frames4`), so data
prepared with other settings never lands in, or is read from, the default config's folder.
`FAKEDETECT_WORKERS` or `workers=` set the encoding processes (default: every core).

Temporal-localization datasets (datasets/lavdf, av_deepfake1m) add per-frame labels, which
need the decoded frames' times: a builder's `FINISH` function turns each encoded example and its
index features into the written example (`localization_labels`), and may refuse one video
(segments past the decoded end): it is then skipped and counted like a file that does not
decode. Bad metadata found while indexing is skipped with one `MetadataWarning` (`skip_report`).
"""
import collections
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from typing import Dict, List, Optional

import numpy as np

import tensorflow_datasets as tfds
from etils import epath

from fakedetect_jax.errors import DataError
from fakedetect_jax.media import BatchSummary, MediaConfig, MediaError, encode_many
from fakedetect_jax.media.encoder import encode_video_with_report
from fakedetect_jax.media.features import example_features
from fakedetect_jax.media import segments as segments_lib

log = logging.getLogger(__name__)

MEDIA_ENV = "FAKEDETECT_MEDIA"
WORKERS_ENV = "FAKEDETECT_WORKERS"
SPLITS = ("train", "validation", "test")
LABELS = ("real", "fake")
AUDIO_KEYS = ("audio", "audio_valid")
# What builds write unless told otherwise (training reads only this; see input/sources.py).
DEFAULT_FILE_FORMAT = "array_record"


class LayoutError(DataError):
  """The manual download does not have the expected layout; the message says what is missing."""


class MetadataWarning(UserWarning):
  """Metadata entries skipped while indexing (malformed, impossible segments, missing files)."""


# Label of a video whose label the dataset withholds (a challenge's hidden test set): TFDS's
# ClassLabel stores -1 as "no label".
HIDDEN = -1


@dataclasses.dataclass(frozen=True)
class Item:
  """One video of the index. `extra` holds dataset-specific features (e.g. FakeAVCeleb's)."""
  split: str
  video_id: str  # path relative to manual_dir, with '/'
  path: str  # absolute path handed to the encoder
  label: str  # 'real' or 'fake'
  method: str  # 'real' for real videos
  source_id: str  # the group that never crosses splits (see each builder)
  extra: tuple = ()  # (feature name, value) pairs

  def features(self):
    return {
        "video_id": self.video_id,
        "label": self.label,
        "method": self.method,
        "source_id": self.source_id,
        **dict(self.extra)
    }


@dataclasses.dataclass(eq=False)
class VideoConfig(tfds.core.BuilderConfig):
  media: MediaConfig = MediaConfig()


# ----------------------------------------------------------------------------- layout helpers


def rel(path, manual_dir) -> str:
  """video_id: the path relative to manual_dir, '/'-separated."""
  return epath.Path(path).relative_to(epath.Path(manual_dir)).as_posix()


def find_dir(manual_dir, has, max_depth=3) -> Optional[epath.Path]:
  """The shallowest directory under manual_dir (itself included) for which has(dir) is true.

    Archives unpack with or without a wrapper folder (sometimes two), so builders look a few
    levels down instead of insisting on one exact root. Siblings are visited in sorted order.
    """
  level = [epath.Path(manual_dir)]
  for depth in range(max_depth + 1):
    for d in level:
      if has(d):
        return d
    if depth < max_depth:
      level = [c for d in level for c in sorted(d.iterdir()) if c.is_dir()]
  return None


def videos_in(directory) -> List[epath.Path]:
  d = epath.Path(directory)
  return sorted(p for p in d.iterdir() if p.name.endswith(".mp4") and not p.name.startswith("."))


def require(path, what, layout):
  """Fail at once, naming the missing file and the layout that was expected."""
  path = epath.Path(path)
  if not path.exists():
    raise LayoutError(f"missing {path} ({what}); expected layout: {layout}")
  return path


def split_groups(sizes: Dict[str, int], fractions: Dict[str, float], salt: str) -> Dict[str, str]:
  """Assign whole groups (group id -> number of videos) to splits, deterministically.

    Groups are ordered by md5(salt + id), an order that does not depend on listing order or
    on Python's hash seed. Splits other than 'train' take groups in that order until they hold
    their fraction of the videos (rounding to the nearest group), at least one group each while
    a group is left for 'train'; 'train' takes the rest.
    """
  order = sorted(sizes, key=lambda g: (hashlib.md5((salt + g).encode()).hexdigest(), g))
  total = sum(sizes.values())
  out, i = {}, 0
  for split, frac in fractions.items():
    if split == "train":
      continue
    want, got = frac * total, 0
    while i < len(order) - 1 and (got == 0 or got + sizes[order[i]] / 2 <= want):
      out[order[i]] = split
      got += sizes[order[i]]
      i += 1
  for g in order[i:]:
    out[g] = "train"
  return out


def summarize(items: List[Item], splits=SPLITS) -> str:
  n = collections.Counter((it.split, it.label) for it in items)
  total = collections.Counter(it.split for it in items)
  return "; ".join(
      f"{s}: {total[s]} videos ({n[s, 'real']} real, {n[s, 'fake']} fake" +
      (f", {total[s] - n[s, 'real'] - n[s, 'fake']} unlabelled" if total[s] > n[s, 'real'] +
       n[s, 'fake'] else "") + ")" for s in splits if total[s])


def skip_report(dataset, problems, total):
  """Log each skipped metadata entry and warn once (MetadataWarning) with their count and the
    first few; problems: one-line messages, each naming its file. The build goes on."""
  for message in problems:
    log.warning("%s: skipped %s", dataset, message)
  if problems:
    more = f"; and {len(problems) - 3} more (see the log)" if len(problems) > 3 else ""
    warnings.warn(
        f"{dataset}: skipped {len(problems)} of {total} metadata entries: " +
        "; ".join(problems[:3]) + more,
        MetadataWarning,
        stacklevel=2)


def is_remote(path) -> bool:
  return "://" in os.fspath(path)


# ------------------------------------------------------------------- temporal localization

SEGMENT_KEYS = ("fake_segments", "visual_fake_segments", "audio_fake_segments")
FRAME_LABEL_KEYS = ("frame_label", "frame_label_visual", "frame_label_audio")
MODIFY_TYPES = ("real", "visual_modified", "audio_modified", "both_modified")


def localization_features() -> dict:
  """The TFDS features `localization_labels` adds (T: the example's frames, N: segments)."""
  import tensorflow_datasets as tfds
  segments = tfds.features.Tensor(shape=(None, 2), dtype=np.float32)
  frames = tfds.features.Tensor(shape=(None,), dtype=np.int8)
  return {
      **{
          k: segments for k in SEGMENT_KEYS
      },
      **{
          k: frames for k in FRAME_LABEL_KEYS
      },
      "modify_type": tfds.features.Text(),
      "n_frames": tfds.features.Tensor(shape=(), dtype=np.int32),
  }


def localization_labels(ex, features):
  """FINISH of the localization builders: the index features with segments as float32 [N, 2]
    (checked against the decoded video: ends up to segments.END_TOLERANCE past it clipped,
    anything worse raises SegmentError) and per-frame labels from them at the example's frame
    times (media/segments.py's convention): frame_label_visual, frame_label_audio and
    frame_label (either modality). A hidden-label video (label HIDDEN) gets labels -1."""
  out = dict(features)
  duration, fps = float(ex["duration"]), float(ex["fps"])
  times = np.asarray(ex["timestamps"], np.float64)
  for key in SEGMENT_KEYS:
    out[key] = segments_lib.check_segments(features.get(key), duration, features["video_id"])
  if features["label"] == HIDDEN:
    for key in FRAME_LABEL_KEYS:
      out[key] = np.full(len(times), -1, np.int8)
  else:
    visual = segments_lib.frame_labels(out["visual_fake_segments"], times, fps=fps)
    audio = segments_lib.frame_labels(out["audio_fake_segments"], times, fps=fps)
    either = segments_lib.frame_labels(out["fake_segments"], times, fps=fps)
    out["frame_label_visual"], out["frame_label_audio"] = visual, audio
    out["frame_label"] = np.maximum(either, np.maximum(visual, audio))
  out["n_frames"] = np.int32(len(times))
  return {**ex, **out}


# ------------------------------------------------------------------------------- media option


def parse_media(text: str) -> Dict[str, object]:
  """'num_frames=4,face_size=64' -> {'num_frames': 4, 'face_size': 64}, typed by MediaConfig."""
  types = {f.name: type(f.default) for f in dataclasses.fields(MediaConfig)}
  out = {}
  for part in filter(None, (p.strip() for p in text.split(","))):
    key, sep, value = part.partition("=")
    key = key.strip()
    if not sep or key not in types:
      raise DataError(f"{MEDIA_ENV}: expected name=value pairs of MediaConfig fields "
                      f"({', '.join(types)}), got {part!r}")
    t = types[key]
    value = value.strip()
    out[key] = (value.lower() in ("1", "true", "yes")) if t is bool else t(value)
  return out


def media_tag(media: MediaConfig, base: MediaConfig) -> str:
  diff = sorted(
      f.name
      for f in dataclasses.fields(MediaConfig)
      if getattr(media, f.name) != getattr(base, f.name))
  return "".join(f"+{k}{getattr(media, k)}" for k in diff)


# ----------------------------------------------------------------------------- the base class


class ManualVideoBuilder(tfds.core.GeneratorBasedBuilder):
  """Base of the four gated-dataset builders (abstract: TFDS registers only the subclasses).

    A subclass sets VERSION, BUILDER_CONFIGS (VideoConfig or a subclass),
    MANUAL_DOWNLOAD_INSTRUCTIONS, DESCRIPTION, HOMEPAGE, CITATION, and implements `index`.
    """

  DESCRIPTION = ""
  HOMEPAGE = ""
  CITATION = ""
  SPLITS = SPLITS  # the splits a build may write, in order
  # (encoded example, index features) -> written example, or None for `make_example`'s merge;
  # a module-level function (Beam pickles it by reference). See `localization_labels`.
  FINISH = None

  def __init__(self, *, media=None, workers=None, config=None, **kwargs):
    config = self._media_config(config, media)
    if workers is None and os.environ.get(WORKERS_ENV):
      workers = int(os.environ[WORKERS_ENV])
    self._workers = workers
    self._beam = False
    self.encode_summary = BatchSummary()  # filled by a local build: encoded, skipped files
    explicit_format = kwargs.pop("file_format", None)
    super().__init__(config=config, file_format=explicit_format, **kwargs)
    if explicit_format is None and not self.info.splits:
      # Random access (tfds.data_source, Grain) needs array_record; a prepared dataset
      # keeps the format it was written in, and `--file_format=tfrecord` still works.
      self.info.set_file_format(DEFAULT_FILE_FORMAT, override=True)

  @classmethod
  def _media_config(cls, config, media):
    """The builder config with the media override applied (renamed when it changes)."""
    if config is None:
      config = cls.DEFAULT_BUILDER_CONFIG_NAME or cls.BUILDER_CONFIGS[0].name
    if isinstance(config, str):
      if ":" in config or config not in cls.builder_configs:
        return config  # let TFDS report unknown names and versioned requests
      config = cls.builder_configs[config]
    if media is None and cls.builder_configs.get(config.name) is config:
      # The environment applies to the named configs only: a renamed config object
      # (e.g. passed back by TFDS when it reloads) already carries its settings.
      media = os.environ.get(MEDIA_ENV) or None
    if media is None:
      return config
    fields = parse_media(media) if isinstance(media, str) else (
        dataclasses.asdict(media) if isinstance(media, MediaConfig) else dict(media))
    try:
      new = config.media.replace(**fields)
    except ValueError as e:  # a value MediaConfig refuses: say where it came from
      raise DataError(f"{MEDIA_ENV} / media= for {cls.__name__}: {e}") from None
    if new == config.media:
      return config
    root = config.name.split("+")[0]
    registered = cls.builder_configs.get(root, config)
    tag = media_tag(new, registered.media)
    return dataclasses.replace(
        config,
        name=root + tag,
        media=new,
        description=f"{registered.description} Media: {tag[1:]}.")

  # -- what a subclass provides
  def index(self, manual_dir: epath.Path) -> List[Item]:
    """Every video to encode, split assigned, sorted; raise LayoutError on a bad layout."""
    raise NotImplementedError

  def extra_features(self) -> dict:
    return {}

  def source_dir(self, dl_manager):
    """The folder the index reads: the user's download (synthetic data renders its own)."""
    return dl_manager.manual_dir

  # -- TFDS hooks
  def _info(self):
    media = self.builder_config.media
    feats = dict(example_features(media).items())
    if not media.audio:
      for k in AUDIO_KEYS:
        feats.pop(k)
    feats.update(
        video_id=tfds.features.Text(),
        label=tfds.features.ClassLabel(names=list(LABELS)),
        method=tfds.features.Text(),
        source_id=tfds.features.Text(),
        **self.extra_features())
    return tfds.core.DatasetInfo(
        builder=self,
        description=self.DESCRIPTION,
        features=tfds.features.FeaturesDict(feats),
        homepage=self.HOMEPAGE,
        citation=self.CITATION)

  def _download_and_prepare(self, dl_manager, download_config):
    # Beam is used only when asked for (tfds build --beam_pipeline_options=..., or a
    # DownloadConfig with beam_options / beam_runner); otherwise the local process pool.
    self._beam = (
        download_config.beam_options is not None or download_config.beam_runner is not None)
    self._max_per_split = download_config.max_examples_per_split
    return super()._download_and_prepare(dl_manager, download_config)

  def _split_generators(self, dl_manager):
    manual_dir = str(self.source_dir(dl_manager))
    if "://" not in manual_dir:  # absolute: encoder processes and Beam workers get full paths
      manual_dir = os.path.abspath(manual_dir)
    items = self.index(epath.Path(manual_dir))
    by_split = collections.OrderedDict((s, []) for s in self.SPLITS)
    for it in items:
      by_split[it.split].append(it)
    for split in self.SPLITS:
      if getattr(self, "_max_per_split", None):
        by_split[split] = by_split[split][:self._max_per_split]
      if not by_split[split]:
        log.warning("%s: no videos for split %r; it is left out", self.name, split)
        del by_split[split]
    if not by_split:
      raise LayoutError(f"{self.name}/{self.builder_config.name}: no videos found under "
                        f"{manual_dir}")
    ordered = [it for group in by_split.values() for it in group]
    log.info("%s/%s: %s", self.name, self.builder_config.name, summarize(ordered, self.SPLITS))
    for split, group in by_split.items():
      # The index goes with the prepared data (which videos, which labels, which split),
      # and is what Beam workers read: a cluster's job graph cannot hold 128k rows.
      (epath.Path(self.data_dir) / f"video_index-{split}.jsonl").write_text("".join(
          json.dumps([it.video_id, it.path, it.features()]) + "\n" for it in group))
    stream = None if self._beam else _SharedStream(ordered, self.builder_config.media,
                                                   self._workers, self.encode_summary, self.FINISH)
    return {
        split: self._generate_examples(split, group, stream) for split, group in by_split.items()
    }

  def _generate_examples(self, split, items, stream):
    keep_audio = self.builder_config.media.audio
    if not self._beam:
      return stream.take(items, keep_audio)
    beam = tfds.core.lazy_imports.apache_beam
    index = os.fspath(epath.Path(self.data_dir) / f"video_index-{split}.jsonl")
    return (
        beam.io.ReadFromText(index)
        | "Parse" >> beam.Map(json.loads)
        | "Spread" >> beam.Reshuffle()  # one video per work item, across all workers
        | "Encode" >> beam.FlatMap(
            encode_row, media=self.builder_config.media, keep_audio=keep_audio, finish=self.FINISH))

  def _process_pipeline_result(self, pipeline_result):
    from apache_beam.metrics.metric import MetricsFilter
    result = pipeline_result.metrics().query(MetricsFilter().with_namespace("fakedetect"))
    counts = collections.Counter()  # one counter per split's Encode step: sum them
    for c in result["counters"]:
      counts[c.key.metric.name] += c.committed
    log.warning("%s: beam build encoded %d videos, skipped %d", self.name,
                counts.get("videos_encoded", 0), counts.get("videos_skipped", 0))
    self.encode_summary.encoded = counts.get("videos_encoded", 0)
    self.encode_summary.total = self.encode_summary.encoded + counts.get("videos_skipped", 0)


def make_example(ex, features, keep_audio, finish=None):
  """The written example; raises what `finish` raises (SegmentError) for a video to skip."""
  if not keep_audio:
    ex = {k: v for k, v in ex.items() if k not in AUDIO_KEYS}
  return finish(ex, features) if finish is not None else {**ex, **features}


# What a FINISH function raises for a video whose labels cannot be made: it is skipped.
SKIPPED_BY_FINISH = (segments_lib.SegmentError, DataError)


class _SharedStream:
  """One encode_many over every split's videos, handed out split by split.

    TFDS consumes the split generators one after the other in the order returned, so the
    builder pays for one process pool and shows one progress bar with an ETA for the whole
    build. encode_many keeps input order and drops failures; an example's input position says
    which split it belongs to.
    """

  def __init__(self, items, media, workers, summary, finish=None):
    self._items, self._finish = items, finish
    self._pos = {it.path: i for i, it in enumerate(items)}
    self._media, self._workers, self._summary = media, workers, summary
    self._stream = None
    self._next = None  # (position, example) read ahead from the next split

  def take(self, items, keep_audio):
    if not items:
      return
    lo, hi = self._pos[items[0].path], self._pos[items[-1].path] + 1
    if self._stream is None:
      self._stream = encode_many([it.path for it in self._items],
                                 self._media,
                                 workers=self._workers,
                                 summary=self._summary)
    while True:
      if self._next is None:
        got = next(self._stream, None)
        if got is None:
          return
        self._next = (self._pos[got[0]], got[1])
      i, ex = self._next
      if i >= hi:
        return
      self._next = None
      if i < lo:
        continue  # left over from a split whose writer stopped early
      it = self._items[i]
      try:
        example = make_example(ex, it.features(), keep_audio, self._finish)
      except SKIPPED_BY_FINISH as e:  # counted as a skipped video, like one that fails to decode
        self._summary.encoded -= 1
        self._summary.failed.append((it.path, str(e)))
        log.warning("skipped %s", e)
        continue
      yield it.video_id, example


def encode_row(row, media, keep_audio, finish=None):
  """Beam worker: (video_id, path, features) -> [(key, example)], or [] for a bad file."""
  from apache_beam.metrics import Metrics
  video_id, path, features = row
  try:
    with _local_copy(path) as local:
      ex, report = encode_video_with_report(local, media)
  except MediaError as e:
    Metrics.counter("fakedetect", "videos_skipped").inc()
    log.warning("skipped %s", e)
    return []
  for msg in report.warnings:
    log.warning("%s: %s", video_id, msg)
  try:
    example = make_example(ex, features, keep_audio, finish)
  except SKIPPED_BY_FINISH as e:
    Metrics.counter("fakedetect", "videos_skipped").inc()
    log.warning("skipped %s", e)
    return []
  Metrics.counter("fakedetect", "videos_encoded").inc()
  return [(video_id, example)]


class _local_copy:
  """A local path for the decoder: the file itself, or a temporary copy of a remote one
    (gs://, s3://...: Beam workers on a cluster often read the download from a bucket)."""

  def __init__(self, path):
    self.path, self.tmp = path, None

  def __enter__(self):
    if "://" not in self.path:
      return self.path
    fd, self.tmp = tempfile.mkstemp(suffix=".mp4")
    with os.fdopen(fd, "wb") as out, epath.Path(self.path).open("rb") as src:
      shutil.copyfileobj(src, out)
    return self.tmp

  def __exit__(self, *exc):
    if self.tmp:
      os.remove(self.tmp)
