"""LAV-DF (Localized Audio Visual DeepFake, ControlNet/LAV-DF), from the user's download.

    tfds build datasets/lavdf --manual_dir=/data/LAV-DF            # config `dense` (default)

One example per video in the dense media setting (every frame: face and mouth crops, 4 mel
slots a frame; fakedetect_jax/media/config.py MediaConfig.dense), with the fake periods and
per-frame labels derived from them (builder_lib.localization_labels; the frame convention is in
fakedetect_jax/media/segments.py): `fake_segments` (the metadata's `fake_periods`),
`visual_fake_segments` / `audio_fake_segments` (the periods where `modify_video` /
`modify_audio`), `frame_label`, `frame_label_visual`, `frame_label_audio`, `modify_type` (real,
visual_modified, audio_modified or both_modified, AV-Deepfake1M's names), `method` = modify_type,
`source_id` = the `original` video (itself for a real one), `n_frames`.
Splits are the official ones (`split`: train, dev -> validation, test); a fake and its original
share one. Entries that cannot be right (a period clearly past the video's end or reversed,
missing fields, a file not on disk) are skipped with one MetadataWarning naming them; a period
that ends a few ms past `duration` is clipped. `video_frames` is not trusted: the labels follow
the frames that decode.
"""
import json
import logging
import numbers

import tensorflow_datasets as tfds
from etils import epath

from fakedetect_jax import builder_lib
from fakedetect_jax.builder_lib import Item, LayoutError
from fakedetect_jax.media import MediaConfig
from fakedetect_jax.media import segments as segments_lib

log = logging.getLogger(__name__)

METADATA = ("metadata.min.json", "metadata.json")  # the same entries; min is smaller to read
SPLIT_NAMES = {"train": "train", "dev": "validation", "test": "test"}
LAYOUT = ("manual_dir[/LAV-DF]/{metadata.min.json or metadata.json, train/000001.mp4 ..., "
          "dev/..., test/...}")
EXAMPLE_ENTRY = ('{"file": "train/000001.mp4", "split": "train", "fake_periods": [[1.2, 1.6]], '
                 '"modify_video": true, "modify_audio": false, "duration": 6.4, '
                 '"original": "train/000000.mp4", ...}')


class Builder(builder_lib.ManualVideoBuilder):
  """LAV-DF: one dense example per video with its fake segments and per-frame labels."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [
      builder_lib.VideoConfig(
          name="dense",
          media=MediaConfig.dense(),
          description="LAV-DF, official splits, every frame (dense media setting)."),
  ]
  DEFAULT_BUILDER_CONFIG_NAME = "dense"
  FINISH = staticmethod(builder_lib.localization_labels)
  DESCRIPTION = __doc__
  HOMEPAGE = "https://github.com/ControlNet/LAV-DF"
  CITATION = """@inproceedings{cai2022you,
  title={Do You Really Mean That? Content Driven Audio-Visual Deepfake Dataset and Multimodal
         Method for Temporal Forgery Localization},
  author={Cai, Zhixi and Stefanov, Kalin and Dhall, Abhinav and Hayat, Munawar},
  booktitle={DICTA}, year={2022}}"""
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Request LAV-DF as described at https://github.com/ControlNet/LAV-DF (a form, then a
    download link), and unpack it into manual_dir so that manual_dir (or its LAV-DF/ folder)
    holds metadata.json (or metadata.min.json) and the train/, dev/ and test/ folders of mp4s.
    """

  def index(self, manual_dir):
    return index(manual_dir)

  def extra_features(self):
    return builder_lib.localization_features()


def _has_metadata(d):
  return any((d / m).exists() for m in METADATA)


def read_metadata(manual_dir):
  """(root folder, entries) of the metadata list; LayoutError naming what is missing."""
  root = builder_lib.find_dir(epath.Path(manual_dir), _has_metadata, max_depth=2)
  if root is None:
    raise LayoutError(f"no {' or '.join(METADATA)} under {manual_dir}; expected layout: {LAYOUT}")
  path = next(root / m for m in METADATA if (root / m).exists())
  try:
    entries = json.loads(path.read_text())
  except ValueError as e:
    raise LayoutError(f"{path}: not valid JSON ({e}); expected a list of {EXAMPLE_ENTRY}") from None
  if not isinstance(entries, list):
    raise LayoutError(f"{path}: expected a JSON list of {EXAMPLE_ENTRY}, found a "
                      f"{type(entries).__name__}")
  return root, entries


def _number(entry, key):
  value = entry.get(key)
  if isinstance(value, bool) or not isinstance(value, numbers.Real):
    raise ValueError(f"{key} {value!r} is not a number")
  return float(value)


def _flag(entry, key):
  value = entry.get(key, False)
  if value not in (True, False, 0, 1):
    raise ValueError(f"{key} {value!r} is not true or false")
  return bool(value)


def parse_entry(entry, fps=25.0):
  """(file, split, features) of one metadata entry; ValueError / SegmentError (naming the file)
    for an entry that cannot be right."""
  if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
    raise ValueError(f"entry {str(entry)[:80]} has no `file`; expected {EXAMPLE_ENTRY}")
  file = entry["file"].replace("\\", "/").lstrip("/")
  try:
    split = SPLIT_NAMES.get(entry.get("split"))
    if split is None:
      raise ValueError(f"split {entry.get('split')!r} is not train, dev or test")
    if "duration" in entry:
      duration = _number(entry, "duration")
    else:
      duration = _number(entry, "video_frames") / fps
    modify_video, modify_audio = _flag(entry, "modify_video"), _flag(entry, "modify_audio")
  except ValueError as e:
    raise ValueError(f"{file}: {e}; expected {EXAMPLE_ENTRY}") from None
  periods = segments_lib.check_segments(entry.get("fake_periods") or [], duration, file)
  if bool(len(periods)) != (modify_video or modify_audio):
    raise ValueError(f"{file}: {len(periods)} fake periods but modify_video={modify_video}, "
                     f"modify_audio={modify_audio}; expected periods exactly when one is set")
  modify_type = ("both_modified" if modify_video and modify_audio else "visual_modified"
                 if modify_video else "audio_modified" if modify_audio else "real")
  empty = []
  periods = periods.tolist()
  features = {
      "fake_segments": periods,
      "visual_fake_segments": periods if modify_video else empty,
      "audio_fake_segments": periods if modify_audio else empty,
      "modify_type": modify_type,
  }
  source = entry.get("original") or file
  return file, split, str(source).replace("\\", "/"), features


def index(manual_dir):
  manual_dir = epath.Path(manual_dir)
  root, entries = read_metadata(manual_dir)
  problems, items, seen = [], [], set()
  local = not builder_lib.is_remote(root)
  for entry in entries:
    try:
      file, split, source, features = parse_entry(entry)
    except ValueError as e:  # SegmentError too
      problems.append(str(e))
      continue
    if file in seen:
      problems.append(f"{file}: listed twice; the first entry is kept")
      continue
    seen.add(file)
    path = root / file
    if local and not path.exists():  # remote: the encoder reports it (one stat per file is slow)
      problems.append(f"{file}: listed in the metadata but not on disk under {root}")
      continue
    label = "real" if features["modify_type"] == "real" else "fake"
    items.append(
        Item(split, builder_lib.rel(path, manual_dir), str(path), label, features["modify_type"],
             source, tuple(features.items())))
  builder_lib.skip_report("lavdf", problems, len(entries))
  return sorted(items, key=lambda it: it.video_id)
