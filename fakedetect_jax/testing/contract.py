"""Check a prepared gated-dataset build against its replica's ground truth, and run TFDS's own
builder test case on a replica.

    problems = check_build(builder, replica)    # [] when the build keeps the contract

The contract (what downstream code relies on): splits train/validation/test; every example has
`video_id` (path relative to manual_dir), `label` (ClassLabel real/fake), `method` ('real' for
real videos), `source_id`; no video and no source in two splits; corrupt files skipped, files in
no split left out.
"""
import collections
import os
import shutil
import tempfile

import tensorflow_datasets as tfds

from fakedetect_jax import builder_lib


# Test-sized media: 4 frames, 64 px faces, 32 px mouths (the defaults are 32 / 256 / 88).
TINY_MEDIA = "num_frames=4,face_size=64,mouth_size=32"


def read_labels(builder, split):
    """[{video_id, label ('real'|'fake'), method, source_id, extra...}] of one prepared split."""
    feats = builder.info.features
    skip = {"frames": tfds.decode.SkipDecoding()}  # labels only: leave the JPEGs encoded
    out = []
    for ex in tfds.as_numpy(builder.as_dataset(split=split, decoders=skip)):
        row = {}
        for key in ("video_id", "method", "source_id"):
            row[key] = ex[key].decode()
        for key in ("label", "video_label", "audio_label", "category"):
            if key in feats:
                row[key] = feats[key].int2str(int(ex[key]))
        out.append(row)
    return out


def check_build(builder, replica):
    """Everything that differs between the prepared dataset and the replica's truth."""
    problems = []
    if builder.info.features["label"].names != list(builder_lib.LABELS):
        problems.append(f"label names {builder.info.features['label'].names}, expected ['real', 'fake']")
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
            want = {"label": truth.label, "method": truth.method, "source_id": truth.source_id,
                    **truth.extra}
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
        return self.dataset_class(data_dir=self.tmp_dir, config=config or self.CONFIG,
                                  version=self.VERSION, media=self.MEDIA, workers=self.WORKERS)

    def _download_and_prepare_as_dataset(self, builder):
        from fakedetect_jax.media import MediaWarning
        # The build warns once with the count of skipped files (and goes on).
        with self.assertWarnsRegex(MediaWarning, rf"skipped {len(self.REPLICA.corrupt)}\b"):
            super()._download_and_prepare_as_dataset(builder)
        with self._subTest("contract"):
            self.assertEqual(check_build(builder, self.REPLICA), [])
        with self._subTest("corrupt_skipped_and_counted"):
            skipped = sorted(os.path.relpath(p, self.REPLICA.manual_dir).replace(os.sep, "/")
                             for p, _ in builder.encode_summary.failed)
            self.assertEqual(skipped, self.REPLICA.corrupt)
            self.assertEqual(builder.encode_summary.encoded,
                             len(self.REPLICA.expected_ids()))
