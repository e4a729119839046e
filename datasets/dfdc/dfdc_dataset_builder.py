"""DFDC (the full Kaggle/Meta release) and its preview DFDCP, from the user's download.

    tfds build datasets/dfdc --manual_dir=/data/dfdc --config=full
    tfds build datasets/dfdc --manual_dir=gs://bucket/dfdc --config=full \
        --beam_pipeline_options=runner=DataflowRunner,project=...,region=...,setup_file=./setup.py
(~470 GB: a Beam cluster; its workers need this package, hence setup_file, and read the videos
from the bucket.)

`full`: train parts are found recursively (some unzips nest dfdc_train_part_00/dfdc_train_part_0/);
validation is 5% of them, carved by source: a fake always goes with its `original`. test comes
from test/labels.csv or test/metadata.json when the test release is present.
`preview`: DFDCP's dataset.json `set` field gives train and test; validation is 10% of train by
identity (`target_id`), and train videos of a test identity are left out. Both carry audio.
"""
import collections
import csv
import dataclasses
import io
import json
import logging
import re

import tensorflow_datasets as tfds
from etils import epath

from fakedetect_jax import builder_lib
from fakedetect_jax.builder_lib import Item, LayoutError

log = logging.getLogger(__name__)

PART = re.compile(r"dfdc_train_part_\d+|train_sample_videos")
FULL_FRACTIONS = {"train": 0.95, "validation": 0.05}
PREVIEW_FRACTIONS = {"train": 0.9, "validation": 0.1}
LAYOUT = (
    "manual_dir/dfdc_train_part_0/{metadata.json, abcdefghij.mp4 ...} ... dfdc_train_part_49/ "
    "(nesting allowed), optional manual_dir/test/{labels.csv (filename,label) or "
    "metadata.json, *.mp4}")
PREVIEW_LAYOUT = "manual_dir/{dataset.json, original_videos/, method_A/, method_B/}"


@dataclasses.dataclass(eq=False)
class DfdcConfig(builder_lib.VideoConfig):
  variant: str = "full"  # "full" or "preview"


class Builder(builder_lib.ManualVideoBuilder):
  """DFDC / DFDC preview: one example per video (face crops, mouth, audio, labels)."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [
      DfdcConfig(
          name="full",
          variant="full",
          description="DFDC: 50 train parts (validation carved by original), test if present."),
      DfdcConfig(
          name="preview",
          variant="preview",
          description="DFDC preview (DFDCP): official train/test by the `set` field."),
  ]
  DEFAULT_BUILDER_CONFIG_NAME = "full"
  DESCRIPTION = __doc__
  HOMEPAGE = "https://ai.meta.com/datasets/dfdc/"
  CITATION = """@article{dolhansky2020dfdc,
  title={The DeepFake Detection Challenge (DFDC) Dataset},
  author={Dolhansky, Brian and Bitton, Joanna and Pflaum, Ben and Lu, Jikuo and Howes, Russ
          and Wang, Menglin and Canton Ferrer, Cristian},
  journal={arXiv:2006.07397}, year={2020}}"""
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Accept the terms at https://ai.meta.com/datasets/dfdc/ (or the Kaggle competition
    deepfake-detection-challenge) and download:
    full: dfdc_train_part_0.zip ... dfdc_train_part_49.zip; unzip each into manual_dir (an extra
      level such as dfdc_train_part_00/dfdc_train_part_0/ is fine). Each part holds its videos
      and metadata.json. Optionally the labelled test release, unpacked as manual_dir/test/ with
      its videos and labels.csv (filename,label) or metadata.json ({"x.mp4": {"is_fake": 0|1}}).
    preview: the DFDC preview archive, unpacked so that manual_dir (or one folder below it)
      holds dataset.json, original_videos/, method_A/ and method_B/.
    """

  def index(self, manual_dir):
    if self.builder_config.variant == "preview":
      return index_preview(manual_dir)
    return index_full(manual_dir)


def find_parts(manual_dir, max_depth=4):
  """Folders named dfdc_train_part_N holding videos or metadata.json, nested up to max_depth
    levels; any other folder (e.g. dfdc_train_part_00/ wrapping dfdc_train_part_0/) is looked
    through. Part folders themselves are never listed here: they hold thousands of files."""
  parts, level = [], [manual_dir]
  for _ in range(max_depth):
    nxt = []
    for d in level:
      for c in sorted(d.iterdir()):
        if c.name == "test" or not c.is_dir():
          continue
        holds = (c / "metadata.json").exists() or builder_lib.videos_in(c)
        if PART.fullmatch(c.name) and holds:
          parts.append(c)
        else:
          nxt.append(c)
    level = nxt
  return parts


def read_json(path, what, layout):
  builder_lib.require(path, what, layout)
  try:
    return json.loads(path.read_text())
  except ValueError as e:
    raise LayoutError(f"{path}: not valid JSON ({e}); expected {what}") from None


def index_full(manual_dir):
  manual_dir = epath.Path(manual_dir)
  parts = find_parts(manual_dir)
  if not parts:
    raise LayoutError(f"no dfdc_train_part_*/metadata.json under {manual_dir}; "
                      f"expected layout: {LAYOUT}")
  rows, seen, missing, unlisted = [], set(), 0, 0
  for part in parts:
    meta = read_json(part / "metadata.json",
                     'the part\'s labels {"x.mp4": {"label": "FAKE", "original": "y.mp4"}}', LAYOUT)
    on_disk = {p.name: p for p in builder_lib.videos_in(part)}
    unlisted += len(set(on_disk) - set(meta))
    for name in sorted(meta):
      entry = meta[name]
      label = str(entry.get("label", "")).lower()
      if label not in builder_lib.LABELS:
        raise LayoutError(f"{part / 'metadata.json'}: {name} has label {entry.get('label')!r}, "
                          "expected REAL or FAKE")
      if name not in on_disk:
        missing += 1
        continue
      if name in seen:
        log.warning("dfdc: %s appears in two parts; keeping the first", name)
        continue
      seen.add(name)
      original = entry.get("original") if label == "fake" else None
      source = (original or name).rsplit(".", 1)[0]
      rows.append((on_disk[name], label, source))
  if missing or unlisted:
    log.warning(
        "dfdc: %d videos listed in metadata.json are not on disk; %d files on disk are "
        "in no metadata.json (left out)", missing, unlisted)
  split_of = builder_lib.split_groups(
      collections.Counter(s for _, _, s in rows), FULL_FRACTIONS, salt="dfdc")
  items = [
      Item(split_of[s], builder_lib.rel(p, manual_dir), str(p), label, label, s)
      for p, label, s in rows
  ]
  return sorted(items + index_test(manual_dir), key=lambda it: it.video_id)


def index_test(manual_dir):
  """The labelled test release, if present: test/labels.csv or test/metadata.json."""
  candidates = [manual_dir / "test"] + [
      c / "test" for c in sorted(manual_dir.iterdir()) if c.is_dir() and not PART.fullmatch(c.name)
  ]
  test_dir = next((d for d in candidates if d.is_dir()), None)
  if test_dir is None:
    log.warning(
        "dfdc: no test/ folder under %s: no test split (the labelled test set is a "
        "separate download)", manual_dir)
    return []
  # The videos sit in test/ or one folder below it (packaging unverified).
  subdirs = [d for d in sorted(test_dir.iterdir()) if d.is_dir()]
  videos = {p.name: p for d in [*subdirs, test_dir] for p in builder_lib.videos_in(d)}
  if (test_dir / "labels.csv").exists():
    table = csv.DictReader(io.StringIO((test_dir / "labels.csv").read_text()))
    if not {"filename", "label"} <= set(table.fieldnames or ()):
      raise LayoutError(f"{test_dir / 'labels.csv'}: expected the header filename,label; found "
                        f"{','.join(table.fieldnames or ())}")
    labels = {r["filename"].strip(): int(float(r["label"])) for r in table}
  elif (test_dir / "metadata.json").exists():
    meta = read_json(test_dir / "metadata.json", '{"x.mp4": {"is_fake": 0|1}}', LAYOUT)
    labels = {
        k: int(v["is_fake"]) if "is_fake" in v else int(str(v.get("label")).upper() == "FAKE")
        for k, v in meta.items()
    }
  else:
    raise LayoutError(f"missing {test_dir / 'labels.csv'} (or metadata.json) for the {len(videos)} "
                      f"test videos; expected layout: {LAYOUT}")
  items = []
  for name in sorted(set(labels) & set(videos)):
    label = builder_lib.LABELS[1 if labels[name] else 0]
    items.append(
        Item("test", builder_lib.rel(videos[name], manual_dir), str(videos[name]), label, label,
             name.rsplit(".", 1)[0]))
  if len(items) < len(labels):
    log.warning("dfdc: %d labelled test videos are not under %s",
                len(labels) - len(items), test_dir)
  return items


def index_preview(manual_dir):
  manual_dir = epath.Path(manual_dir)
  root = builder_lib.find_dir(manual_dir, lambda d: (d / "dataset.json").exists(), max_depth=2)
  meta = read_json((root or manual_dir) / "dataset.json",
                   'DFDCP\'s index {"method_A/.../x.mp4": {"label": "fake", "set": "train", ...}}',
                   PREVIEW_LAYOUT)
  rows, missing = [], 0
  for rel_path in sorted(meta):
    entry = meta[rel_path]
    label, split = str(entry.get("label", "")).lower(), str(entry.get("set", "")).lower()
    if label not in builder_lib.LABELS or split not in ("train", "test"):
      raise LayoutError(f"{root / 'dataset.json'}: {rel_path} has label {entry.get('label')!r} "
                        f"and set {entry.get('set')!r}; expected real|fake and train|test")
    path = root / rel_path
    if not path.exists():
      missing += 1
      continue
    parts = rel_path.split("/")
    method = "real" if label == "real" else parts[0]
    # The identity filmed: target_id where given, else the folder after the method folder.
    source = str(entry.get("target_id") or (parts[1] if len(parts) > 2 else parts[-1]))
    rows.append((path, label, method, source, split))
  if missing:
    log.warning("dfdc/preview: %d videos in dataset.json are not on disk", missing)
  test_ids = {r[3] for r in rows if r[4] == "test"}
  train = [r for r in rows if r[4] == "train" and r[3] not in test_ids]
  dropped = sum(r[4] == "train" for r in rows) - len(train)
  if dropped:
    log.warning("dfdc/preview: %d train videos of identities in the test set left out", dropped)
  split_of = builder_lib.split_groups(
      collections.Counter(r[3] for r in train), PREVIEW_FRACTIONS, salt="dfdcp")
  chosen = [("test", r) for r in rows if r[4] == "test"] + [(split_of[r[3]], r) for r in train]
  items = [
      Item(split, builder_lib.rel(path, manual_dir), str(path), label, method, source)
      for split, (path, label, method, source, _) in chosen
  ]
  return sorted(items, key=lambda it: it.video_id)
