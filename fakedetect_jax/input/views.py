"""Video-level views of a dataset: one row per video (or clip) holding several aligned inputs.

The frame models see one face frame per row (`FrameSource`, view 'frames'). The temporal,
lip-sync and audio branches need what a frame cannot hold, so their sources keep a dict of
arrays per row, all [N, ...] and row-aligned with labels (those of data.label_key):

  clips  frames [T,S,S,3] uint8 (T = data.clip_len consecutive frames; a video gives T_video //
         clip_len rows), face_found [T]
  av     frames, mouth [T,M,M] uint8, audio [T,W,80] float32, audio_valid [T,W], has_audio [],
         face_found [T], eye_aspect_ratio [T]
  audio  audio, audio_valid, has_audio

The arrays are decoded once into memmaps under the cache (the key holds the view, the clip
length and the label key), so batches are read by row index exactly like frames: TrainOrder,
exact resume and the per-host split work unchanged.
"""
import dataclasses
import os

import numpy as np

from fakedetect_jax.errors import DataError

VIEWS = ("frames", "clips", "av", "audio")
_KEYS = {"clips": ("frames", "face_found"),
         "av": ("frames", "mouth", "audio", "audio_valid", "has_audio", "face_found",
                "eye_aspect_ratio"),
         "audio": ("audio", "audio_valid", "has_audio")}


@dataclasses.dataclass
class VideoSource:
  inputs: dict              # name -> [N, ...] array (often a memmap)
  labels: np.ndarray        # [N] int32, 1 = fake
  video_index: np.ndarray   # [N] int32, the video each row came from
  methods: np.ndarray       # [N] str
  video_ids: np.ndarray     # [V] str
  categories: np.ndarray = None  # [N] str (FakeAVCeleb-style category), when the dataset has one

  def __len__(self):
    return len(self.labels)

  def select(self, keep):
    rows = np.flatnonzero(keep)
    return VideoSource({k: _Rows(v, rows) for k, v in self.inputs.items()}, self.labels[rows],
                       self.video_index[rows], self.methods[rows], self.video_ids,
                       None if self.categories is None else self.categories[rows])


class _Rows:
  """A lazy row subset (fancy-indexing a memmap would copy all of it)."""

  def __init__(self, base, rows):
    self.base, self.rows = base, rows
    self.shape = (len(rows),) + tuple(base.shape[1:])
    self.dtype = base.dtype

  def __len__(self):
    return len(self.rows)

  def __getitem__(self, idx):
    return self.base[self.rows[idx]]


def example_input(source, batch=1):
  """Zeros shaped like `batch` rows of the source's inputs (for model.init)."""
  return {k: np.zeros((batch,) + tuple(v.shape[1:]), v.dtype) for k, v in source.inputs.items()}


def load_view(builder, split, data_config, process_index=0, barrier=lambda: None):
  """The VideoSource of one split of a prepared TFDS builder."""
  view = data_config.view
  if view not in _KEYS:
    raise DataError(f"unknown data.view {view!r}; known: {', '.join(VIEWS)}")
  cache_root = data_config.cache_dir or os.path.join(builder.data_dir_root, "fakedetect_cache")
  clip = data_config.clip_len if view in ("clips", "av") else 0
  prefix = os.path.join(cache_root, builder.info.full_name,
                        f"{split}_{data_config.image_size}px_{view}_c{clip}_"
                        f"{data_config.label_key}")
  if process_index == 0 and not os.path.exists(prefix + ".meta.npz"):
    _write_cache(builder, split, data_config, prefix, _KEYS[view], clip)
  barrier()
  meta = np.load(prefix + ".meta.npz", allow_pickle=False)
  inputs = {k: np.load(f"{prefix}.{k}.npy", mmap_mode="r") for k in _KEYS[view]}
  return VideoSource(inputs, meta["labels"], meta["video_index"], meta["methods"],
                     meta["video_ids"], meta["categories"])


def _write_cache(builder, split, data_config, prefix, keys, clip):
  import tensorflow as tf
  import tensorflow_datasets as tfds
  features = builder.info.features
  missing = [k for k in keys if k not in features]
  if missing:
    raise DataError(f"dataset {builder.info.full_name} has no {missing} features (was it built "
                    f"without audio or landmarks?); keys: {sorted(features)}")
  t_video = features["frames"].shape[0] if "frames" in features else None
  clip = clip or 0
  if clip and (clip > t_video):
    raise DataError(f"data.clip_len {clip} is longer than the {t_video} frames of a video in "
                    f"{builder.info.full_name}")
  per_video = t_video // clip if clip else 1
  n_rows = builder.info.splits[split].num_examples * per_video
  size = data_config.image_size
  wanted = set(keys) | {"video_id", "method", data_config.label_key}
  has_category = "category" in features
  # FakeAVCeleb stores the category as a ClassLabel (A-D), synthetic_av as text.
  category_names = getattr(features["category"], "names", None) if has_category else None

  def prepare(ex):
    out = {k: ex[k] for k in wanted}
    if "frames" in keys and (ex["frames"].shape[1] != size or ex["frames"].shape[2] != size):
      out["frames"] = tf.cast(tf.clip_by_value(tf.round(
          tf.image.resize(ex["frames"], (size, size), antialias=True)), 0, 255), tf.uint8)
    if has_category:
      out["category"] = ex["category"]
    return out

  ds = builder.as_dataset(split=split, shuffle_files=False, read_config=tfds.ReadConfig(
      interleave_cycle_length=1)).map(prepare, num_parallel_calls=tf.data.AUTOTUNE,
                                      deterministic=True)
  os.makedirs(os.path.dirname(prefix), exist_ok=True)
  arrays, labels, methods, ids, cats = {}, [], [], [], []
  for i, ex in enumerate(tfds.as_numpy(ds)):
    for k in keys:
      v = np.asarray(ex[k])
      # Per-frame arrays are cut into clips; per-video ones (has_audio) repeat for each clip.
      rows = (v.reshape((per_video, clip) + v.shape[1:]) if clip and v.ndim >= 1
              and v.shape[0] == t_video else np.broadcast_to(v, (per_video,) + v.shape))
      if k not in arrays:
        arrays[k] = np.lib.format.open_memmap(f"{prefix}.{k}.tmp.npy", "w+", rows.dtype,
                                              (n_rows,) + rows.shape[1:])
      arrays[k][i * per_video:(i + 1) * per_video] = rows
    labels.append(int(ex[data_config.label_key]))
    methods.append(ex["method"].decode())
    ids.append(ex["video_id"].decode())
    cats.append("" if not has_category else category_names[int(ex["category"])]
                if category_names else ex["category"].decode())
  for k, a in arrays.items():
    a.flush()
    del a
    os.replace(f"{prefix}.{k}.tmp.npy", f"{prefix}.{k}.npy")
  rep = lambda a: np.repeat(np.asarray(a), per_video)
  np.savez(prefix + ".meta.tmp.npz", labels=rep(labels).astype(np.int32),
           video_index=rep(np.arange(len(labels))).astype(np.int32), methods=rep(methods),
           video_ids=np.asarray(ids), categories=rep(cats))
  os.replace(prefix + ".meta.tmp.npz", prefix + ".meta.npz")  # last: marks the cache done
