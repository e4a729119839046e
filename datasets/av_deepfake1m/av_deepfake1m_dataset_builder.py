"""AV-Deepfake1M (ControlNet/AV-Deepfake1M, the 2024 1M-Deepfakes challenge), from the download.

    tfds build datasets/av_deepfake1m --manual_dir=/data/AV-Deepfake1M
    tfds build datasets/av_deepfake1m --manual_dir=gs://bucket/AV-Deepfake1M \
        --beam_pipeline_options=runner=DataflowRunner,project=...,region=...,setup_file=./setup.py
(over 1M videos, TBs: a Beam cluster, as for DFDC; its workers read the videos from the bucket.)

One example per video in the dense media setting (every frame; MediaConfig.dense), with the
segments (`fake_segments`, `visual_fake_segments`, `audio_fake_segments`, seconds), per-frame
labels from them (`frame_label`, `frame_label_visual`, `frame_label_audio`; convention in
fakedetect_jax/media/segments.py), `modify_type` (real, visual_modified, audio_modified,
both_modified; `method` is the same), `audio_model`, `n_frames`; `source_id` is the VoxCeleb2
identity (the idNNNNN folder of the path).
Splits: train_metadata.json gives train and validation (5% of its identities: no identity in
both); val_metadata.json, the public validation set, is `test` (the stand-in for the challenge's
hidden test set: its identities are disjoint from train's by the dataset's design, and train
videos of an identity found there are left out); test_files.txt, when present, is `submission`:
the hidden-label test videos, with label -1 (ClassLabel's "no label"), method and modify_type
`unknown`, no segments and frame labels -1, to write challenge predictions for.
Entries that cannot be right (a segment clearly past video_frames / 25 s or reversed, an unknown
modify_type, malformed fields, a file not on disk) are skipped with one MetadataWarning naming
them; a segment a few ms past the end is clipped. Labels follow the frames that decode.
"""
import collections
import json
import logging
import numbers
import re

import tensorflow_datasets as tfds
from etils import epath

from fakedetect_jax import builder_lib
from fakedetect_jax.builder_lib import Item, LayoutError
from fakedetect_jax.media import MediaConfig
from fakedetect_jax.media import segments as segments_lib

log = logging.getLogger(__name__)

FPS = 25.0  # every AV-Deepfake1M video; its metadata counts frames, not seconds
FRACTIONS = {"train": 0.95, "validation": 0.05}
# metadata file (or folder of per-video JSON files), video folder, split it feeds
SOURCES = (("train_metadata", "train", None), ("val_metadata", "val", "test"))
TEST_LIST = "test_files.txt"
TEST_FOLDER = "test"
IDENTITY = re.compile(r"id\d+")
LAYOUT = ("manual_dir[/AV-Deepfake1M]/{train_metadata.json (or train_metadata/<file>.json), "
          "train/<id>/<video>/<clip>/real.mp4 ..., val_metadata.json, val/..., "
          "[test_files.txt, test/...]}")
EXAMPLE_ENTRY = ('{"file": "id00012/abc/00001/fake_video_fake_audio.mp4", "original": ..., '
                 '"split": "train", "modify_type": "both_modified", "audio_model": "...", '
                 '"fake_segments": [[1.2, 1.6]], "audio_fake_segments": [[1.2, 1.6]], '
                 '"visual_fake_segments": [[1.2, 1.6]], "video_frames": 250, ...}')
UNKNOWN = "unknown"


class Builder(builder_lib.ManualVideoBuilder):
  """AV-Deepfake1M: one dense example per video with its fake segments and per-frame labels."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [
      builder_lib.VideoConfig(
          name="dense",
          media=MediaConfig.dense(),
          description="AV-Deepfake1M: train / validation by identity, public val as test, "
          "hidden test as submission; every frame (dense media setting)."),
  ]
  DEFAULT_BUILDER_CONFIG_NAME = "dense"
  SPLITS = builder_lib.SPLITS + ("submission",)
  FINISH = staticmethod(builder_lib.localization_labels)
  DESCRIPTION = __doc__
  HOMEPAGE = "https://github.com/ControlNet/AV-Deepfake1M"
  CITATION = """@inproceedings{cai2024av,
  title={AV-Deepfake1M: A Large-Scale LLM-Driven Audio-Visual Deepfake Dataset},
  author={Cai, Zhixi and Ghosh, Shreya and Adatia, Aman Pankaj and Hayat, Munawar and
          Dhall, Abhinav and Gedeon, Tom and Stefanov, Kalin},
  booktitle={ACM Multimedia}, year={2024}}"""
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Accept the EULA at https://github.com/ControlNet/AV-Deepfake1M (the dataset is on Hugging
    Face after approval), download it and unpack the archives into manual_dir so that it (or
    its AV-Deepfake1M/ folder) holds train_metadata.json, train/, val_metadata.json, val/ and,
    for challenge submissions, test_files.txt and test/.
    """

  def index(self, manual_dir):
    return index(manual_dir)

  def extra_features(self):
    return {**builder_lib.localization_features(), "audio_model": tfds.features.Text()}


def _has_metadata(d):
  return any((d / f"{name}.json").exists() or (d / name).is_dir() for name, _, _ in SOURCES)


def identity(file):
  """The VoxCeleb2 identity of a path (its first idNNNNN component), else its first folder."""
  parts = [p for p in file.split("/") if p]
  return next((p for p in parts if IDENTITY.fullmatch(p)), parts[0] if len(parts) > 1 else file)


def read_entries(root, name):
  """The entries of <name>.json, or of the per-video JSON files under <name>/; None if neither."""
  combined = root / f"{name}.json"
  if combined.exists():
    try:
      entries = json.loads(combined.read_text())
    except ValueError as e:
      raise LayoutError(f"{combined}: not valid JSON ({e}); expected a list of "
                        f"{EXAMPLE_ENTRY}") from None
    if not isinstance(entries, list):
      raise LayoutError(f"{combined}: expected a JSON list of {EXAMPLE_ENTRY}, found a "
                        f"{type(entries).__name__}")
    return entries
  folder = root / name
  if not folder.is_dir():
    return None
  entries = []
  for path in _json_files(folder):
    try:
      entries.append(json.loads(path.read_text()))
    except ValueError:
      entries.append({"file": path.relative_to(folder).as_posix()[:-5] + ".mp4", "bad": True})
  return entries


def _json_files(folder):
  """Every .json file under folder, sorted (epath's glob refuses `**` on any filesystem)."""
  out, pending = [], [folder]
  while pending:
    for child in sorted(pending.pop().iterdir()):
      if child.is_dir():
        pending.append(child)
      elif child.name.endswith(".json"):
        out.append(child)
  return sorted(out)


def parse_entry(entry, folder=""):
  """(file, features) of one metadata entry; ValueError / SegmentError naming the file (as
    folder/file: its path under manual_dir's root)."""
  if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
    raise ValueError(f"{folder}: entry {str(entry)[:80]} has no `file`; expected "
                     f"{EXAMPLE_ENTRY}")
  file = entry["file"].replace("\\", "/").lstrip("/")
  name = f"{folder}/{file}" if folder else file
  if entry.get("bad"):
    raise ValueError(f"{name}: its metadata file is not valid JSON")
  kind = str(entry.get("modify_type", "")).replace("-", "_")
  if kind not in builder_lib.MODIFY_TYPES:
    raise ValueError(f"{name}: modify_type {entry.get('modify_type')!r} is not one of "
                     f"{', '.join(builder_lib.MODIFY_TYPES)}")
  frames = entry.get("video_frames")
  if frames is None:
    duration = float("inf")  # checked against the decoded video only
  elif isinstance(frames, bool) or not isinstance(frames, numbers.Real) or frames <= 0:
    raise ValueError(f"{name}: video_frames {frames!r} is not a positive number")
  else:
    duration = float(frames) / FPS
  features = {}
  for key in builder_lib.SEGMENT_KEYS:
    checked = segments_lib.check_segments(entry.get(key) or [], duration, name)
    features[key] = checked.tolist()
  if (kind == "real") != (not features["fake_segments"]):
    raise ValueError(f"{name}: modify_type {kind} with {len(features['fake_segments'])} fake "
                     "segments; expected segments exactly for fakes")
  model = entry.get("audio_model")
  features.update(modify_type=kind, audio_model="" if model is None else str(model))
  return file, features


def index(manual_dir):
  manual_dir = epath.Path(manual_dir)
  root = builder_lib.find_dir(manual_dir, _has_metadata, max_depth=2)
  if root is None:
    raise LayoutError(f"no train_metadata.json or val_metadata.json under {manual_dir}; "
                      f"expected layout: {LAYOUT}")
  local = not builder_lib.is_remote(root)
  problems, rows, total = [], [], 0  # rows: (split or None for the train pool, file, path, feats)
  for name, folder, split in SOURCES:
    entries = read_entries(root, name)
    if entries is None:
      log.warning("av_deepfake1m: no %s.json under %s: its videos are left out", name, root)
      continue
    total += len(entries)
    seen = set()
    for entry in entries:
      try:
        file, features = parse_entry(entry, folder)
      except ValueError as e:  # SegmentError too
        problems.append(str(e))
        continue
      if file in seen:
        problems.append(f"{folder}/{file}: listed twice; the first entry is kept")
        continue
      seen.add(file)
      path = root / folder / file
      if local and not path.exists():  # remote: the encoder reports it (1M stats are slow)
        problems.append(f"{folder}/{file}: listed in {name}.json but not on disk")
        continue
      rows.append((split, file, path, features))
  builder_lib.skip_report("av_deepfake1m", problems, total)
  test_ids = {identity(f) for s, f, _, _ in rows if s == "test"}
  pool = [r for r in rows if r[0] is None and identity(r[1]) not in test_ids]
  if len(pool) < sum(r[0] is None for r in rows):
    log.warning("av_deepfake1m: %d train videos of identities in val_metadata.json left out",
                sum(r[0] is None for r in rows) - len(pool))
  split_of = builder_lib.split_groups(
      collections.Counter(identity(f) for _, f, _, _ in pool), FRACTIONS, salt="av_deepfake1m")
  items = []
  for split, file, path, features in pool + [r for r in rows if r[0] == "test"]:
    kind = features["modify_type"]
    items.append(
        Item(split or split_of[identity(file)], builder_lib.rel(path, manual_dir), str(path),
             "real" if kind == "real" else "fake", kind, identity(file), tuple(features.items())))
  return sorted(items + index_submission(root, manual_dir, local), key=lambda it: it.video_id)


def index_submission(root, manual_dir, local):
  """The hidden-label test videos of test_files.txt (one path under test/ a line), if present."""
  listing = root / TEST_LIST
  if not listing.exists():
    log.warning("av_deepfake1m: no %s under %s: no submission split", TEST_LIST, root)
    return []
  files = [l.strip().replace("\\", "/").lstrip("/") for l in listing.read_text().splitlines()]
  files = list(dict.fromkeys(f for f in files if f))
  hidden = {"modify_type": UNKNOWN, "audio_model": "", **{k: [] for k in builder_lib.SEGMENT_KEYS}}
  items, missing = [], []
  for file in files:
    path = root / TEST_FOLDER / file
    if local and not path.exists():
      missing.append(f"{TEST_FOLDER}/{file}: listed in {TEST_LIST} but not on disk")
      continue
    items.append(
        Item("submission", builder_lib.rel(path, manual_dir), str(path), builder_lib.HIDDEN,
             UNKNOWN, identity(file), tuple(hidden.items())))
  builder_lib.skip_report("av_deepfake1m", missing, len(files))
  return items
