"""Frame sources: every face frame of a split as one random-access uint8 array plus labels.

TFDS splits are decoded once into a memory-mapped cache (`<data_dir>/fakedetect_cache/...`), so
training reads any frame in O(1) without holding the split in memory, a resumed run finds its
data position by arithmetic, and each host reads only the rows of its own shard.
"""
import dataclasses
import importlib
import os
import pathlib
import sys

import numpy as np

from fakedetect_jax.errors import DataError

DATASETS_DIR = pathlib.Path(__file__).resolve().parents[2] / "datasets"
# Datasets that need no download: prepared on first use.
EMBEDDED = ("synthetic_av",)


@dataclasses.dataclass
class FrameSource:
  images: np.ndarray        # [N, H, W, 3] uint8 (often a memmap)
  labels: np.ndarray        # [N] int32, 1 = fake
  video_index: np.ndarray   # [N] int32, the video each frame came from
  methods: np.ndarray       # [N] str, 'real' for real videos
  video_ids: np.ndarray     # [V] str, indexed by video_index

  def __len__(self):
    return len(self.labels)

  def select(self, keep):
    """The frames where `keep` is true (video ids stay addressable by the same index)."""
    return FrameSource(self.images[keep] if not isinstance(self.images, np.memmap)
                       else _IndexedImages(self.images, np.flatnonzero(keep)),
                       self.labels[keep], self.video_index[keep], self.methods[keep],
                       self.video_ids)


class _IndexedImages:
  """A row subset of a memmap that reads lazily (fancy indexing a memmap copies it)."""

  def __init__(self, base, rows):
    self.base, self.rows = base, rows
    self.shape = (len(rows),) + base.shape[1:]
    self.dtype = base.dtype

  def __len__(self):
    return len(self.rows)

  def __getitem__(self, idx):
    return self.base[self.rows[idx]]


def load_split(data_config, split, process_index=0, barrier=lambda: None):
  """The FrameSource of one split, filtered to data_config.methods when given."""
  view = data_config.get("view", "frames")
  if view != "frames":
    # Video-level views (temporal, lip-sync, audio branches): one row per video or clip.
    from fakedetect_jax.input import views
    if data_config.dataset == "npz":
      raise DataError(f"data.view {view!r} needs a TFDS video dataset, not 'npz'")
    source = views.load_view(_prepared(data_config, process_index, barrier), split, data_config,
                             process_index, barrier)
  elif data_config.dataset == "npz":
    source = _load_npz(data_config.path, split, data_config.image_size)
  else:
    source = _load_tfds(data_config, split, process_index, barrier)
  if data_config.methods:
    keep = np.isin(source.methods, list(data_config.methods))
    if not keep.any():
      raise DataError(f"no frames of methods {list(data_config.methods)} in split {split!r} of "
                      f"{data_config.dataset}; methods present: {sorted(set(source.methods))}")
    source = source.select(keep)
  return source


def _load_npz(path, split, image_size):
  if not path or not os.path.exists(path):
    raise DataError(f"dataset 'npz' needs config.data.path pointing at an .npz file; got {path!r}")
  with np.load(path, allow_pickle=False) as z:
    need = [f"{split}_{k}" for k in ("images", "labels", "videos")]
    missing = [k for k in need if k not in z]
    if missing:
      raise DataError(f"{path}: missing arrays {missing} (expected <split>_images, _labels, _videos)")
    images = z[f"{split}_images"]
    if images.ndim != 4 or images.shape[1:] != (image_size, image_size, 3) or images.dtype != np.uint8:
      raise DataError(f"{path}: {split}_images is {images.dtype}{list(images.shape)}, expected "
                      f"uint8[N,{image_size},{image_size},3]")
    videos = z[f"{split}_videos"].astype(np.int32)
    methods = (z[f"{split}_methods"].astype(str) if f"{split}_methods" in z
               else np.where(z[f"{split}_labels"] > 0, "fake", "real"))
    return FrameSource(images, z[f"{split}_labels"].astype(np.int32), videos, methods,
                       np.array([str(v) for v in range(videos.max(initial=-1) + 1)]))


def import_builder_module(name):
  """Imports datasets/<name>/<name>_dataset_builder.py, which registers the builder with TFDS."""
  module_file = DATASETS_DIR / name / f"{name}_dataset_builder.py"
  if not module_file.exists():
    known = sorted(p.name for p in DATASETS_DIR.iterdir() if (p / f"{p.name}_dataset_builder.py").exists())
    raise DataError(f"unknown dataset {name!r}: no {module_file}; known datasets: {', '.join(known)}, npz")
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


def _prepared(data_config, process_index, barrier):
  """The TFDS builder of data_config, prepared (embedded datasets are built on first use)."""
  builder = get_builder(data_config.dataset, data_config.config, data_config.data_dir)
  if not builder.is_prepared():
    if data_config.dataset not in EMBEDDED:
      raise DataError(
          f"dataset {data_config.dataset}/{data_config.config} is not prepared in {builder.data_dir}; "
          f"build it first: tfds build datasets/{data_config.dataset} --config={data_config.config} "
          f"--manual_dir=<your download> --data_dir=<data_dir>")
    if process_index == 0:
      print(f"Preparing the embedded dataset {data_config.dataset}/{data_config.config} "
            f"in {builder.data_dir} (once)...", flush=True)
      builder.download_and_prepare()
    barrier()
  return builder


def _load_tfds(data_config, split, process_index, barrier):
  builder = _prepared(data_config, process_index, barrier)
  if split not in builder.info.splits:
    raise DataError(f"dataset {builder.info.full_name} has no split {split!r}; "
                    f"splits: {sorted(builder.info.splits)}")
  cache_root = data_config.cache_dir or os.path.join(builder.data_dir_root, "fakedetect_cache")
  # Labels are cached too: the label key is part of the name (quickstart uses video_label).
  name = f"{split}_{data_config.image_size}px_{data_config.label_key}"
  prefix = os.path.join(cache_root, builder.info.full_name, name)
  if process_index == 0 and not os.path.exists(prefix + ".meta.npz"):
    _write_cache(builder, split, data_config, prefix)
  barrier()
  meta = np.load(prefix + ".meta.npz", allow_pickle=False)
  images = np.load(prefix + ".images.npy", mmap_mode="r")
  return FrameSource(images, meta["labels"], meta["video_index"], meta["methods"], meta["video_ids"])


def _write_cache(builder, split, data_config, prefix):
  """Decodes a split once into prefix.images.npy (memmap) + prefix.meta.npz, atomically."""
  import tensorflow as tf
  import tensorflow_datasets as tfds
  features = builder.info.features
  if "frames" not in features:
    raise DataError(f"dataset {builder.info.full_name} has no 'frames' feature; keys: {list(features)}")
  frames_per_video = features["frames"].shape[0]
  n_videos = builder.info.splits[split].num_examples
  size = data_config.image_size
  os.makedirs(os.path.dirname(prefix), exist_ok=True)
  images = np.lib.format.open_memmap(prefix + ".images.tmp.npy", "w+", np.uint8,
                                     (n_videos * frames_per_video, size, size, 3))

  def resize(ex):
    frames = ex["frames"]
    if frames.shape[1] != size or frames.shape[2] != size:
      frames = tf.cast(tf.clip_by_value(tf.round(
          tf.image.resize(frames, (size, size), antialias=True)), 0, 255), tf.uint8)
    return {"frames": frames, "label": ex[data_config.label_key], "method": ex["method"],
            "video_id": ex["video_id"]}

  ds = builder.as_dataset(split=split, shuffle_files=False, read_config=tfds.ReadConfig(
      interleave_cycle_length=1)).map(resize, num_parallel_calls=tf.data.AUTOTUNE,
                                      deterministic=True)
  labels, methods, video_ids = [], [], []
  for i, ex in enumerate(tfds.as_numpy(ds)):
    images[i * frames_per_video:(i + 1) * frames_per_video] = ex["frames"]
    labels.append(int(ex["label"]))
    methods.append(ex["method"].decode())
    video_ids.append(ex["video_id"].decode())
  images.flush()
  del images
  rep = lambda a: np.repeat(np.asarray(a), frames_per_video)
  np.savez(prefix + ".meta.tmp.npz", labels=rep(labels).astype(np.int32),
           video_index=rep(np.arange(len(labels))).astype(np.int32), methods=rep(methods),
           video_ids=np.asarray(video_ids))
  os.replace(prefix + ".images.tmp.npy", prefix + ".images.npy")
  os.replace(prefix + ".meta.tmp.npz", prefix + ".meta.npz")  # written last: marks the cache done
