"""Check a prepared gated-dataset build against its replica's ground truth, and run TFDS's own
builder test case on a replica.

    problems = check_build(builder, replica)    # [] when the build keeps the contract

The contract (what downstream code relies on): splits train/validation/test; every example has
`video_id` (path relative to manual_dir), `label` (ClassLabel real/fake), `method` ('real' for
real videos), `source_id`; no video and no source in two splits; corrupt files skipped, files in
no split left out.

Builds write array_record (builder_lib.DEFAULT_FILE_FORMAT), which only `builder.as_data_source`
reads (random access; `as_dataset` cannot): everything here reads through it, as training does.
"""
import collections
import itertools
import os
import shutil
import tempfile

import numpy as np
import tensorflow_datasets as tfds
from tensorflow_datasets.testing import dataset_builder_testing

from fakedetect_jax import builder_lib
from fakedetect_jax.input import sources

# Test-sized media: 4 frames, 64 px faces, 32 px mouths (the defaults are 32 / 256 / 88).
TINY_MEDIA = "num_frames=4,face_size=64,mouth_size=32"


def read_labels(builder, split):
  """[{video_id, label ('real'|'fake'), method, source_id, extra...}] of one prepared split."""
  feats = builder.info.features
  # The training code's reader (input/sources.py), decoding only the label fields: the face
  # crops stay JPEG bytes. (tfds.decode.SkipDecoding cannot skip a Sequence of Images when
  # a data source decodes with NumPy.)
  records = sources._Records(builder.as_data_source(split).data_source, feats)
  texts = ("video_id", "method", "source_id")
  classes = [k for k in ("label", "video_label", "audio_label", "category") if k in feats]
  out = []
  for start in range(0, len(records), 256):
    rows = range(start, min(start + 256, len(records)))
    for ex in records.read_many(rows, set(texts) | set(classes)):
      row = {key: _text(ex[key]) for key in texts}
      for key in classes:
        names = getattr(feats[key], "names", None)
        row[key] = feats[key].int2str(int(ex[key])) if names else _text(ex[key])
      out.append(row)
  return out


def _text(value):
  return value.decode() if isinstance(value, bytes) else str(value)


def _kind(dtype):
  """bool, int, float or string: what a NumPy dtype holds (scalars are compared by kind)."""
  kind = np.dtype(dtype).kind
  return {"b": "bool", "i": "int", "u": "int", "f": "float", "c": "complex"}.get(kind, "string")


def check_example(example, tensor_info, where=""):
  """Differences between one example as a data source decodes it (NumPy) and the declared
    features' shapes and dtypes (None dimensions match any size).

    TFDS's NumPy decoders give scalar features as Python values (int, float, bool, bytes):
    those must be of the declared kind and hold a value of the declared dtype."""
  problems = []
  if set(example) != set(tensor_info):
    problems.append(f"{where}features {sorted(example)}, declared {sorted(tensor_info)}")
  for key in sorted(set(example) & set(tensor_info)):
    info, value = tensor_info[key], example[key]
    if isinstance(info, dict):
      problems += check_example(value, info, f"{where}{key}/")
      continue
    want, got = np.dtype(info.np_dtype), np.asarray(value)
    if _kind(want) == "string":
      ok = all(isinstance(v, (bytes, str)) for v in got.ravel())
    elif isinstance(value, (bool, int, float)):
      ok = _kind(got.dtype) == _kind(want) and got.astype(want) == got
    else:
      ok = got.dtype == want
    if not ok:
      problems.append(f"{where}{key}: {type(value).__name__} of dtype {got.dtype}, "
                      f"declared {want}")
    shape = tuple(info.shape)
    if len(got.shape) != len(shape) or any(
        d is not None and d != n for d, n in zip(shape, got.shape)):
      problems.append(f"{where}{key}: shape {got.shape}, declared {shape}")
  return problems


def _arrays(example):
  """The example with every list (a decoded Sequence) as one array."""
  if isinstance(example, dict):
    return {k: _arrays(v) for k, v in example.items()}
  return np.asarray(example) if isinstance(example, list) else example


def check_build(builder, replica):
  """Everything that differs between the prepared dataset and the replica's truth."""
  problems = []
  if builder.info.features["label"].names != list(builder_lib.LABELS):
    problems.append(
        f"label names {builder.info.features['label'].names}, expected ['real', 'fake']")
  rows = {s: read_labels(builder, s) for s in builder.info.splits}
  if set(rows) != set(replica.splits):
    problems.append(f"splits {sorted(rows)}, expected {sorted(replica.splits)}")
  seen_video, seen_source = {}, collections.defaultdict(set)
  for split, examples in rows.items():
    if len(examples) != replica.splits.get(split):
      problems.append(f"{split}: {len(examples)} examples, expected {replica.splits.get(split)}")
    for row in examples:
      vid = row["video_id"]
      if vid in seen_video:
        problems.append(f"{vid} in {seen_video[vid]} and {split}")
      seen_video[vid] = split
      seen_source[row["source_id"]].add(split)
      truth = replica.videos.get(vid)
      if truth is None:
        problems.append(f"{split}: {vid} should not be in any split")
        continue
      if truth.corrupt:
        problems.append(f"{split}: corrupt {vid} was not skipped")
      if truth.split and truth.split != split:
        problems.append(f"{vid} in {split}, expected {truth.split}")
      want = {
          "label": truth.label,
          "method": truth.method,
          "source_id": truth.source_id,
          **truth.extra
      }
      got = {k: row.get(k) for k in want}
      if got != want:
        problems.append(f"{vid}: {got}, expected {want}")
  for source, splits in sorted(seen_source.items()):
    if len(splits) > 1:
      problems.append(f"source {source} in several splits: {sorted(splits)}")
  missing = sorted(set(replica.expected_ids()) - set(seen_video))
  if missing:
    problems.append(f"missing from every split: {missing}")
  return problems


class ReplicaBuilderTest(tfds.testing.DatasetBuilderTestCase):
  """TFDS's DatasetBuilderTestCase on a freshly written replica, plus the contract check.

    TFDS's `as_dataset` check is replaced by the same check through `as_data_source` (the
    builds are array_record).

    Subclasses set DATASET_CLASS, CONFIG and `write_replica(manual_dir) -> Replica`. TFDS hands
    the replica to the builder as manual_dir (EXAMPLE_DIR); the expected split sizes come from it.
    """

  CONFIG = None
  MEDIA = TINY_MEDIA

  def test_session(self, *args, **kwargs):
    return super().test_session(*args, **kwargs)

  # tf.test.TestCase.test_session is a helper (TFDS's graph-mode runs use it), not a test:
  # pytest would otherwise collect it and report it skipped.
  test_session.__test__ = False
  WORKERS = 1  # encode in the test process: a process pool costs seconds of start-up per build

  @classmethod
  def write_replica(cls, manual_dir):
    raise NotImplementedError

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls._replica_dir = tempfile.mkdtemp(prefix=f"{cls.__name__}_")
    cls.REPLICA = cls.write_replica(os.path.join(cls._replica_dir, "manual"))
    cls.EXAMPLE_DIR = cls.REPLICA.manual_dir
    cls.SPLITS = dict(cls.REPLICA.splits)
    cls.BUILDER_CONFIG_NAMES_TO_TEST = [cls.CONFIG]

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls._replica_dir, ignore_errors=True)
    super().tearDownClass()

  def _make_builder(self, config=None):
    return self.dataset_class(
        data_dir=self.tmp_dir,
        config=config or self.CONFIG,
        version=self.VERSION,
        media=self.MEDIA,
        workers=self.WORKERS)

  def _assertAsDataset(self, builder):
    """TFDS's check, through the data source: as_dataset cannot read array_record.

        Every split opens and holds the expected number of examples, every example decodes to
        the declared features' shapes and dtypes, and no example is in two splits."""
    tensor_info = builder.info.features.get_tensor_info()
    checksums = {}
    for split, expected in self.SPLITS.items():
      source = builder.as_data_source(split=split)
      self.assertLen(source, expected, f"examples in split {split!r}")
      examples = [source[i] for i in range(len(source))]
      self.assertLen(examples, expected)
      problems = [
          p for i, ex in enumerate(examples)
          for p in check_example(ex, tensor_info, f"{split}[{i}] ")
      ]
      self.assertEqual(problems, [])
      # TFDS's checksum takes arrays, not the list of frames a Sequence decodes to.
      checksums[split] = {dataset_builder_testing.checksum(_arrays(ex)) for ex in examples}
    for (split1, hashes1), (split2, hashes2) in itertools.combinations(checksums.items(), 2):
      if split1 in self.OVERLAPPING_SPLITS or split2 in self.OVERLAPPING_SPLITS:
        continue
      self.assertFalse(hashes1 & hashes2, f"splits {split1!r} and {split2!r} overlap")

  def _download_and_prepare_as_dataset(self, builder):
    from fakedetect_jax.media import MediaWarning
    # The build warns once with the count of skipped files (and goes on).
    with self.assertWarnsRegex(MediaWarning, rf"skipped {len(self.REPLICA.corrupt)}\b"):
      super()._download_and_prepare_as_dataset(builder)
    with self._subTest("array_record"):
      self.assertEqual(builder.info.file_format.value, builder_lib.DEFAULT_FILE_FORMAT)
    with self._subTest("contract"):
      self.assertEqual(check_build(builder, self.REPLICA), [])
    with self._subTest("corrupt_skipped_and_counted"):
      skipped = sorted(
          os.path.relpath(p, self.REPLICA.manual_dir).replace(os.sep, "/")
          for p, _ in builder.encode_summary.failed)
      self.assertEqual(skipped, self.REPLICA.corrupt)
      self.assertEqual(builder.encode_summary.encoded, len(self.REPLICA.expected_ids()))
