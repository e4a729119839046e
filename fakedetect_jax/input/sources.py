"""Sources: one view of one split, every row readable at random, with what identifies each row.

Prepared TFDS data is stored as array_record and read through `tfds.data_source` (random
access, no cache: any row of any video is one record read plus the JPEG decoding of the frames
it needs). A `Source` adds the view's rows (input/views.py) and per-row labels, videos and
methods, read once from the records' small fields, so training can balance classes, evaluation
can group frames into videos, and each host reads only the rows of its own share of a batch.
Reading happens where the rows are asked for: in Grain's worker processes during training.
"""
import dataclasses
import importlib
import os
import pathlib
import sys
import warnings
from typing import Any, Optional

import numpy as np

from fakedetect_jax.errors import DataError
from fakedetect_jax.input import views, windows

DATASETS_DIR = pathlib.Path(__file__).resolve().parents[2] / "datasets"
# Datasets that need no download: prepared on first use.
EMBEDDED = ("synthetic_av",)


@dataclasses.dataclass
class Source:
  """Rows of one view of one split. `source[i]` -> {'inputs': {name: array}, 'label': int32}."""
  records: Any  # random access: records[r] -> stored example (dict of numpy)
  data_config: Any  # view, image_size, clip_len
  row_record: np.ndarray  # [N] int64, the record each row is cut from
  row_part: np.ndarray  # [N] int32, which frame or clip of that record
  labels: np.ndarray  # [N] int32, 1 = fake (data.label_key)
  video_index: np.ndarray  # [N] int32, index into video_ids
  methods: np.ndarray  # [N] str, 'real' for real videos
  video_ids: np.ndarray  # [V] str
  categories: Optional[np.ndarray] = None  # [N] str (FakeAVCeleb-style), where the data has one
  name: str = ""  # dataset/config, for messages
  perturbation: tuple = ()  # (kind, level, seed): a fixed distortion of every face frame
  ready: bool = False  # records[r] already is row r's model inputs (in_memory sources)
  hop_seconds: float = views.DEFAULT_HOP  # mel hop of the stored audio (leading-silence trim)
  has_landmarks: bool = False  # the prepared data stores face landmarks (views.LANDMARK_KEY)
  landmarks: bool = False  # frames rows carry them ("landmarks"), for self-blending
  # [R] stored frames of every record, where videos differ in length (the dense media
  # setting); the segments view's windows and their stitching follow from it.
  record_frames: Optional[np.ndarray] = None

  def __len__(self):
    return len(self.labels)

  @property
  def view(self):
    return self.data_config.view

  def __getitem__(self, i):
    i = int(i)
    r = int(self.row_record[i])
    # Only the stored features the view needs are decoded (not the other zlib arrays).
    targets = self.view == "segments" and not self.ready
    stored = (
        self.records.read(r, views.stored_keys(self.data_config, self.landmarks, targets))
        if hasattr(self.records, "read") else self.records[r])
    inputs = stored if self.ready else views.to_model_inputs(
        stored, self.data_config, int(self.row_part[i]), self.hop_seconds, self.landmarks)
    if self.perturbation:
      inputs = _perturb(inputs, i, *self.perturbation)
    row = {"inputs": inputs, "label": np.int32(self.labels[i])}
    if targets:  # the per-frame labels the localization objective trains on
      row.update(views.row_targets(stored, self.data_config, int(self.row_part[i])))
    return row

  def select(self, keep):
    """The rows where `keep` is true (video ids stay addressable by the same index)."""
    rows = np.flatnonzero(keep)
    pick = lambda a: None if a is None else a[rows]
    return dataclasses.replace(
        self,
        row_record=self.row_record[rows],
        row_part=self.row_part[rows],
        labels=self.labels[rows],
        video_index=self.video_index[rows],
        methods=self.methods[rows],
        categories=pick(self.categories))

  def perturbed(self, kind, level, seed=0):
    """The same rows with one robustness distortion at severity `level` on every face frame,
    the same for every model (drawn from (seed, row))."""
    return dataclasses.replace(self, perturbation=(kind, level, seed))

  def with_landmarks(self):
    """The same rows carrying each frame's face landmarks (frames view), where the prepared
    data has them; otherwise this source, after a warning (once per dataset and process)."""
    if self.has_landmarks and self.view == "frames":
      return dataclasses.replace(self, landmarks=True)
    if self.name not in _WARNED_NO_LANDMARKS:
      _WARNED_NO_LANDMARKS.add(self.name)
      warnings.warn(
          f"{self.name or 'this dataset'}: no stored face landmarks (prepared before they were "
          f"stored, or not a TFDS video dataset); self-blending masks fall back to an ellipse. "
          f"Rebuild the dataset for landmark-hull masks.",
          UserWarning,
          stacklevel=2)
    return self

  def example_inputs(self, batch=1):
    """Zeros shaped like `batch` rows of model inputs (for model.init)."""
    first = self[0]["inputs"]
    return {k: np.zeros((batch,) + v.shape, v.dtype) for k, v in first.items()}


_WARNED_NO_LANDMARKS = set()


def _perturb(inputs, row, kind, level, seed):
  from fakedetect_jax.input import augment
  out = dict(inputs)
  for key in ("image", "frames"):
    if key in out:
      x = out[key]
      batch = x[None] if x.ndim == 3 else x
      batch = augment.perturb(batch, kind, level, seed=[seed, row])
      out[key] = batch[0] if x.ndim == 3 else batch
  return out


class _ArrayRecords:
  """In-memory 'records' of an npz split: record r holds one face frame."""

  def __init__(self, images):
    self.images = images

  def __len__(self):
    return len(self.images)

  def __getitem__(self, r):
    return {"frames": self.images[r:r + 1]}


class _RowArrays:
  """Records that are model-input rows already: {name: [N, ...]} -> row r's dict."""

  def __init__(self, inputs):
    self.inputs = inputs

  def __len__(self):
    return len(next(iter(self.inputs.values())))

  def __getitem__(self, r):
    return {k: v[r] for k, v in self.inputs.items()}


def in_memory(inputs, labels, view, video_index=None, methods=None):
  """A Source over model-input rows held in memory ({name: [N, ...]}, e.g. 'image' for the
  frames view), for benchmarks and tests; each row its own video unless video_index says.
  The rows are model inputs already: no view cuts them and no leading silence is trimmed."""
  import ml_collections
  n = len(labels)
  video_index = np.arange(n, dtype=np.int32) if video_index is None else np.asarray(video_index)
  methods = (
      np.where(np.asarray(labels) > 0, "fake", "real") if methods is None else np.asarray(methods))
  data = ml_collections.ConfigDict(dict(view=view, image_size=0, clip_len=0))
  return Source(
      _RowArrays(inputs),
      data,
      np.arange(n, dtype=np.int64),
      np.zeros(n, np.int32),
      np.asarray(labels, np.int32),
      video_index.astype(np.int32),
      methods,
      np.arange(video_index.max(initial=-1) + 1).astype(str),
      name="in-memory",
      ready=True)


def open_split(data_config, split, process_index=0, barrier=lambda: None, methods=()):
  """The Source of one split in data_config's view, filtered to data_config.methods and then
  to `methods` (each: () = every method)."""
  view = data_config.get("view", "frames")
  views.check_view(view)
  if data_config.dataset == "npz":
    if view != "frames":
      raise DataError(f"data.view {view!r} needs a TFDS video dataset, not 'npz'")
    source = _open_npz(data_config, split)
  else:
    source = _open_tfds(data_config, split, process_index, barrier)
  for keep_methods in (data_config.get("methods") or (), methods or ()):
    source = select_methods(source, keep_methods, split)
  if not len(source):
    raise DataError(f"split {split!r} of {source.name} is empty")
  return source


def select_methods(source, methods, split):
  """The rows of `methods` (() = every row); DataError naming what is there when none is."""
  if not methods:
    return source
  keep = np.isin(source.methods, list(methods))
  if not keep.any():
    raise DataError(f"no rows of methods {list(methods)} in split {split!r} of "
                    f"{source.name}; methods present: {sorted(set(source.methods))}")
  return source.select(keep)


def run_methods(data_config):
  """{'train', 'validation', 'test'}: the methods each split of a training run keeps beyond
  data.methods. data.train_methods filters training and validation alike, so the checkpoint
  is selected on the task it is trained for (a run trained on Deepfakes only is not picked by
  how it scores Face2Face); data.val_methods, when set, replaces it for validation (() = every
  method: the lip-sync pre-training trains on in-sync videos and is picked by how its
  out-of-sync score separates them from every other video). Test keeps every method."""
  train = tuple(data_config.get("train_methods") or ())
  val = data_config.get("val_methods")
  return {"train": train, "validation": train if val is None else tuple(val), "test": ()}


def open_run_splits(data_config, process_index=0, barrier=lambda split: None):
  """(train, validation, test) Sources of a training run: data.train_split, val_split and
  test_split, each filtered as run_methods says."""
  keep = run_methods(data_config)
  names = zip(("train", "validation", "test"),
              (data_config.train_split, data_config.val_split, data_config.test_split))
  return tuple(
      open_split(data_config, split, process_index, lambda s=split: barrier(s), keep[role])
      for role, split in names)


# The old name: a frame source is a Source in the 'frames' view.
load_split = open_split


def _open_npz(data_config, split):
  path, size = data_config.path, int(data_config.image_size)
  if not path or not os.path.exists(path):
    raise DataError(f"dataset 'npz' needs config.data.path pointing at an .npz file; got {path!r}")
  with np.load(path, allow_pickle=False) as z:
    need = [f"{split}_{k}" for k in ("images", "labels", "videos")]
    missing = [k for k in need if k not in z]
    if missing:
      raise DataError(
          f"{path}: missing arrays {missing} (expected <split>_images, _labels, _videos)")
    images = z[f"{split}_images"]
    if images.ndim != 4 or images.shape[1:] != (size, size, 3) or images.dtype != np.uint8:
      raise DataError(f"{path}: {split}_images is {images.dtype}{list(images.shape)}, expected "
                      f"uint8[N,{size},{size},3]")
    labels = z[f"{split}_labels"].astype(np.int32)
    videos = z[f"{split}_videos"].astype(np.int32)
    methods = (
        z[f"{split}_methods"].astype(str) if f"{split}_methods" in z else np.where(
            labels > 0, "fake", "real"))
  n = len(labels)
  return Source(
      _ArrayRecords(images),
      data_config,
      np.arange(n, dtype=np.int64),
      np.zeros(n, np.int32),
      labels,
      videos,
      methods,
      np.array([str(v) for v in range(videos.max(initial=-1) + 1)]),
      name=f"npz:{path}")


def import_builder_module(name):
  """Imports datasets/<name>/<name>_dataset_builder.py, which registers the builder with TFDS."""
  module_file = DATASETS_DIR / name / f"{name}_dataset_builder.py"
  if not module_file.exists():
    known = sorted(
        p.name for p in DATASETS_DIR.iterdir() if (p / f"{p.name}_dataset_builder.py").exists())
    raise DataError(f"unknown dataset {name!r}: no {module_file}; known datasets: "
                    f"{', '.join(known)}, npz")
  if str(DATASETS_DIR) not in sys.path:
    sys.path.insert(0, str(DATASETS_DIR))
  return importlib.import_module(f"{name}.{name}_dataset_builder")


def get_builder(name, config, data_dir):
  import tensorflow_datasets as tfds
  import_builder_module(name)
  try:
    return tfds.builder(name, config=config or None, data_dir=data_dir)
  except ValueError as e:
    raise DataError(f"dataset {name!r} has no config {config!r}: {e}") from None


def prepare_command(data_config):
  return (f"tfds build datasets/{data_config.dataset} --config={data_config.config} "
          f"--manual_dir=<your download> --data_dir=<data_dir>")


def prepared_builder(data_config, process_index=0, barrier=lambda: None):
  """The TFDS builder of data_config, prepared (embedded datasets are built on first use).

  Every host builds an embedded dataset into its own data_dir when it is missing there (the
  build is deterministic), so no host needs another's filesystem."""
  builder = get_builder(data_config.dataset, data_config.config, data_config.data_dir)
  if not builder.is_prepared():
    if data_config.dataset not in EMBEDDED:
      raise DataError(f"dataset {data_config.dataset}/{data_config.config} is not prepared in "
                      f"{builder.data_dir}; build it first: {prepare_command(data_config)}")
    print(
        f"Preparing the embedded dataset {data_config.dataset}/{data_config.config} "
        f"in {builder.data_dir} (once)...",
        flush=True)
    _prepare_once(builder, process_index, barrier)
  return builder


def _prepare_once(builder, process_index, barrier):
  # Hosts on one shared filesystem would race on the same folder: process 0 goes first, the
  # others then find it prepared (and build their own copy where the folder is not shared).
  if process_index == 0:
    builder.download_and_prepare()
  barrier()
  if process_index != 0 and not _fresh(builder).is_prepared():
    builder.download_and_prepare()


def _fresh(builder):
  import tensorflow_datasets as tfds
  return tfds.builder(builder.name, config=builder.builder_config, data_dir=builder.data_dir_root)


def _open_tfds(data_config, split, process_index, barrier):
  import tensorflow_datasets as tfds
  builder = prepared_builder(data_config, process_index, barrier)
  name = f"{data_config.dataset}/{builder.builder_config.name}"
  if split not in builder.info.splits:
    raise DataError(f"dataset {name} has no split {split!r} (splits: "
                    f"{', '.join(sorted(builder.info.splits))}); prepare it with: "
                    f"{prepare_command(data_config)}")
  file_format = builder.info.file_format
  if file_format is not None and getattr(file_format, "value", file_format) != "array_record":
    raise DataError(
        f"dataset {name} in {builder.data_dir} was prepared as {file_format.value}; training "
        f"reads array_record (random access): convert it once with `tfds convert_format "
        f"--dataset_version_dir={builder.data_dir} --out_file_format=array_record`, or rebuild "
        f"it without --file_format")
  features = builder.info.features
  view = data_config.view
  missing = [k for k in views.STORED_KEYS[view] if k not in features]
  if missing:
    raise DataError(f"dataset {name} has no {missing} features for the {view!r} view (was it "
                    f"built without audio or landmarks?); features: {sorted(features)}")
  if data_config.label_key not in features:
    raise DataError(f"dataset {name} has no label {data_config.label_key!r} (data.label_key); "
                    f"features: {sorted(features)}")
  if view == "segments":
    missing = [k for k in views.TARGET_KEYS if k not in features]
    if missing:
      raise DataError(f"dataset {name} has no per-frame labels {missing} for the 'segments' view "
                      f"(a localization dataset has: lavdf, av_deepfake1m, synthetic_av/partial)")
  records = _Records(builder.as_data_source(split).data_source, features)
  num_frames = features["frames"].shape[0] if "frames" in features else 1
  variable = num_frames is None  # dense: every video its own length (n_frames)
  meta = _read_index(records, data_config.label_key, features, variable,
                     views.TARGET_KEYS[0] if view == "segments" else None)
  n_rec = len(meta["labels"])
  frames = meta["n_frames"] if variable else np.full(n_rec, num_frames, np.int64)
  per_video = np.array([views.rows_per_video(int(n), data_config) for n in frames], np.int64)
  part = np.concatenate([np.arange(k, dtype=np.int32) for k in per_video]) if n_rec else np.zeros(
      0, np.int32)
  record = np.repeat(np.arange(n_rec, dtype=np.int64), per_video)
  labels = np.repeat(meta["labels"], per_video)
  if view == "segments":  # a window is fake when any of its frames is (hidden: -1 stays)
    labels = np.concatenate([
        _window_labels(meta["frame_label"][r], data_config) if meta["labels"][r] >= 0 else np.full(
            k, meta["labels"][r], np.int32) for r, k in enumerate(per_video)
    ]) if n_rec else np.zeros(0, np.int32)
  return Source(
      records,
      data_config,
      record,
      part,
      labels,
      record.astype(np.int32),
      np.repeat(meta["methods"], per_video),
      meta["video_ids"],
      np.repeat(meta["categories"], per_video),
      name=name,
      hop_seconds=audio_hop(builder),
      has_landmarks=views.LANDMARK_KEY in _prepared_features(builder, features),
      record_frames=frames if variable else None)


def _window_labels(frame_label, data_config):
  """int32 [K]: 1 for each window of a video that holds a fake frame."""
  length = views.window(data_config)[0]
  fake = np.concatenate([[0], np.cumsum(np.asarray(frame_label) > 0)])
  first = windows.starts(len(frame_label), *views.window(data_config))
  return (fake[np.minimum(first + length, len(frame_label))] > fake[first]).astype(np.int32)


def _prepared_features(builder, features):
  """The feature names the prepared data was written with (its features.json): the builder's
  code may declare features (e.g. face landmarks) that data prepared by an older version lacks."""
  import tensorflow_datasets as tfds
  try:
    return set(tfds.features.FeatureConnector.from_config(os.fspath(builder.data_dir)).keys())
  except (OSError, ValueError, KeyError):
    return set(features.keys())


def audio_hop(builder):
  """The mel hop (s) of a builder's stored audio: its media config's, else the default."""
  media = getattr(builder.builder_config, "media", None)
  return float(getattr(media, "hop_seconds", views.DEFAULT_HOP))


class _Records:
  """Stored examples by record index, from TFDS's array_record source of a split.

  Every feature is decoded as TFDS decodes it, except the face crops: they stay a sequence of
  JPEG bytes, so a row that needs one frame decodes one (views.to_model_inputs). Pickles small
  (the file list), so Grain's worker processes open their own readers."""

  def __init__(self, raw, features):
    self.raw, self.features = raw, features
    self._parser = None

  def __len__(self):
    return len(self.raw)

  def __getstate__(self):
    return {"raw": self.raw, "features": self.features}

  def __setstate__(self, state):
    self.__init__(state["raw"], state["features"])

  def parse(self, serialized, keys=None):
    if self._parser is None:
      from tensorflow_datasets.core import example_parser
      self._parser = example_parser.ExampleParserNp(self.features.get_serialized_info())
    flat = self._parser.parse_example(serialized)
    return {
        k: v if k == "frames" else self.features[k].decode_example_np(v)
        for k, v in flat.items()
        if keys is None or k in keys
    }

  def __getitem__(self, r):
    return self.parse(self.raw[int(r)])

  def read(self, r, keys):
    return self.parse(self.raw[int(r)], keys)

  def read_many(self, rows, keys):
    return [self.parse(x, keys) for x in self.raw.__getitems__(list(rows))]


def _read_index(records, label_key, features, frames=False, frame_label=None):
  """Labels, methods, video ids and categories of every record, in record order; with
  `frames` also their stored frame counts (n_frames), with `frame_label` that per-frame label."""
  category_names = getattr(features["category"], "names", None) if "category" in features else None
  keys = {label_key, "method", "video_id", "category"}
  if frames:
    if "n_frames" not in features:
      raise DataError("a dataset whose videos differ in length must store n_frames (the dense "
                      "media setting's builders do)")
    keys.add("n_frames")
  if frame_label:
    keys.add(frame_label)
  labels, methods, ids, cats, counts, frame_labels = [], [], [], [], [], []
  chunk = 256
  for start in range(0, len(records), chunk):
    for ex in records.read_many(range(start, min(start + chunk, len(records))), keys):
      labels.append(int(ex[label_key]))
      methods.append(text(ex["method"]))
      ids.append(text(ex["video_id"]))
      c = ex.get("category")
      cats.append("" if c is None else category_names[int(c)] if category_names else text(c))
      if frames:
        counts.append(int(ex["n_frames"]))
      if frame_label:
        frame_labels.append(np.asarray(ex[frame_label]))
  return {
      "labels": np.asarray(labels, np.int32),
      "methods": np.asarray(methods, dtype=str),
      "video_ids": np.asarray(ids, dtype=str),
      "categories": np.asarray(cats, dtype=str),
      "n_frames": np.asarray(counts, np.int64),
      "frame_label": frame_labels
  }


def read_fields(builder, split, keys):
  """[{key: value}] of every record of a prepared split, in record order (no frame decoding)."""
  records = _Records(builder.as_data_source(split).data_source, builder.info.features)
  out = []
  for start in range(0, len(records), 256):
    out.extend(records.read_many(range(start, min(start + 256, len(records))), set(keys)))
  return out


def text(v):
  return v.decode() if isinstance(v, bytes) else str(v)
