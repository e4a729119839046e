"""FakeAVCeleb v1.2 (audio-visual deepfakes), from the user's download.

    tfds build datasets/fakeavceleb --manual_dir=/data/FakeAVCeleb --config=v1.2

Labels come from meta_data.csv: `video_label` and `audio_label` from the type folder
(RealVideo/FakeVideo - RealAudio/FakeAudio), `label` fake when either is, `category` A-D, `method`
('real' for A). No official split: 70/15/15 by source identity (the `source` column), so no
identity's own videos are in two splits; an identity can still lend its face or voice
(`target1`) to fakes in another split. Carries audio.
"""
import collections
import csv
import dataclasses
import io
import logging

import tensorflow_datasets as tfds
from etils import epath

from fakedetect_jax import builder_lib
from fakedetect_jax.builder_lib import Item, LayoutError
from fakedetect_jax.media import MediaConfig

log = logging.getLogger(__name__)

META = "meta_data.csv"
TYPES = {
    "RealVideo-RealAudio": "A",
    "RealVideo-FakeAudio": "B",
    "FakeVideo-RealAudio": "C",
    "FakeVideo-FakeAudio": "D"
}
METHODS = {
    "A": ("real",),
    "B": ("rtvc",),
    "C": ("faceswap", "fsgan", "wav2lip"),
    "D": ("wav2lip", "faceswap-wav2lip", "fsgan-wav2lip")
}
COLUMNS = ("source", "target1", "target2", "method", "category", "type", "race", "gender", "path")
FRACTIONS = {"train": 0.70, "validation": 0.15, "test": 0.15}
LAYOUT = (
    "manual_dir[/FakeAVCeleb_v1.2[/FakeAVCeleb_v1.2]]/{meta_data.csv, RealVideo-RealAudio/, "
    "RealVideo-FakeAudio/, FakeVideo-RealAudio/, FakeVideo-FakeAudio/}/<race>/<gender>/<id>/*.mp4")
EXAMPLE_ROW = ("id00076,-,-,real,A,RealVideo-RealAudio,African,men,00109.mp4,"
               "FakeAVCeleb/RealVideo-RealAudio/African/men/id00076")


@dataclasses.dataclass(frozen=True)
class Row:
  line: int
  source: str
  target1: str
  method: str
  category: str
  type: str
  rel: str  # <type>/<race>/<gender>/<source>/<file>, relative to the video root


class Builder(builder_lib.ManualVideoBuilder):
  """FakeAVCeleb v1.2: one example per video (face crops, mouth, audio, video/audio labels)."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [
      builder_lib.VideoConfig(
          name="v1.2", description="FakeAVCeleb v1.2, identity-disjoint 70/15/15 splits."),
      # The temporal and lip-sync branches need consecutive frames (lip motion, flicker):
      # evenly spaced frames of a 7 s clip are ~0.2 s apart.
      builder_lib.VideoConfig(
          name="v1.2_clips",
          media=MediaConfig(num_frames=32, sampling="clips", clip_len=16),
          description="FakeAVCeleb v1.2 as v1.2, with 2 runs of 16 consecutive frames per "
          "video, for the temporal and lip-sync branches."),
  ]
  DEFAULT_BUILDER_CONFIG_NAME = "v1.2"
  DESCRIPTION = __doc__
  HOMEPAGE = "https://github.com/DASH-Lab/FakeAVCeleb"
  CITATION = """@inproceedings{khalid2021fakeavceleb,
  title={FakeAVCeleb: A Novel Audio-Video Multimodal Deepfake Dataset},
  author={Khalid, Hasam and Tariq, Shahroz and Kim, Minha and Woo, Simon S.},
  booktitle={NeurIPS Datasets and Benchmarks}, year={2021}}"""
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Request FakeAVCeleb with the form linked from https://github.com/DASH-Lab/FakeAVCeleb, download
    FakeAVCeleb_v1.2.zip and unzip it into manual_dir (the archive's FakeAVCeleb_v1.2/ folder, even
    doubled as FakeAVCeleb_v1.2/FakeAVCeleb_v1.2/, is found). The unpacked root holds
      meta_data.csv
      RealVideo-RealAudio/<race>/<gender>/id00076/00109.mp4
      RealVideo-FakeAudio/..., FakeVideo-RealAudio/..., FakeVideo-FakeAudio/...
    with race folders such as 'Asian (East)' kept as they are.
    """

  def index(self, manual_dir):
    return index(manual_dir)

  def extra_features(self):
    return {
        "video_label": tfds.features.ClassLabel(names=list(builder_lib.LABELS)),
        "audio_label": tfds.features.ClassLabel(names=list(builder_lib.LABELS)),
        "category": tfds.features.ClassLabel(names=["A", "B", "C", "D"])
    }


def _has_types(d):
  return any((d / t).is_dir() for t in TYPES)


def _cell(row, i):
  return (row[i].strip() if i < len(row) else "").replace("\\", "/")


def read_meta(path):
  """meta_data.csv as Rows. The header ends with a comma: its unnamed 10th column is the
    folder 'FakeAVCeleb/<type>/<race>/<gender>/<source>'; '-' means empty."""
  table = list(csv.reader(io.StringIO(path.read_text().lstrip("\ufeff"))))  # tolerate a BOM
  header = [h.strip().lower() for h in table[0]] if table else []
  if not set(COLUMNS) <= set(header):
    raise LayoutError(f"{path}: expected the header {','.join(COLUMNS)}, (with a trailing comma); "
                      f"found {','.join(header)}")
  col = {c: header.index(c) for c in COLUMNS}
  folder_col = header.index("") if "" in header else len(COLUMNS)
  rows = []
  for n, r in enumerate(table[1:], 2):
    get = {c: "" if _cell(r, i) == "-" else _cell(r, i) for c, i in col.items()}
    if not any(get.values()):
      continue
    parts = [p for p in _cell(r, folder_col).split("/") if p]
    start = next((i for i, p in enumerate(parts) if p in TYPES), None)
    if start is not None:  # drop the leading 'FakeAVCeleb/' (or whatever precedes the type)
      folder = "/".join(parts[start:])
    else:  # no folder column: rebuild it from the other columns
      folder = "/".join((get["type"], get["race"], get["gender"], get["source"]))
    kind = folder.split("/")[0]
    if kind not in TYPES or not get["path"]:
      raise LayoutError(f"{path}:{n}: cannot tell the video's folder and file from {r}; "
                        f"expected {EXAMPLE_ROW}")
    rows.append(
        Row(n, get["source"] or folder.split("/")[-1], get["target1"], get["method"].lower(),
            get["category"].upper(), kind, f"{folder}/{get['path']}"))
  return rows


def resolve(rows):
  """One row per file: rows consistent with the type folder (category and a method valid for
    it) first, then the first by method name; independent of row order."""
  fits = [r for r in rows if TYPES[r.type] == r.category and r.method in METHODS[r.category]]
  return min(fits or rows, key=lambda r: (r.method, r.category, r.line))


def index(manual_dir):
  manual_dir = epath.Path(manual_dir)
  meta_dir = builder_lib.find_dir(manual_dir, lambda d: (d / META).exists(), max_depth=3)
  if meta_dir is not None and _has_types(meta_dir):
    root = meta_dir
  else:
    root = builder_lib.find_dir(manual_dir, _has_types, max_depth=3)
  meta = builder_lib.require((meta_dir or root or manual_dir) / META, "FakeAVCeleb's label table",
                             LAYOUT)
  if root is None:
    raise LayoutError(f"no RealVideo-RealAudio/ (or other type) folder under {manual_dir}; "
                      f"expected layout: {LAYOUT}")
  by_file = collections.defaultdict(list)
  for row in read_meta(meta):
    by_file[row.rel].append(row)
  conflicts = sum(len({(r.method, r.category) for r in rows}) > 1 for rows in by_file.values())
  if conflicts:
    log.warning(
        "fakeavceleb: %d files listed more than once with different methods; kept the row "
        "consistent with the folder, then the first method by name", conflicts)
  chosen, missing = [], 0
  for rel_path in sorted(by_file):
    row = resolve(by_file[rel_path])
    path = root / rel_path
    if not path.exists():
      missing += 1
      continue
    chosen.append((row, path))
  if missing:
    log.warning("fakeavceleb: %d videos in %s are not on disk", missing, META)
  split_of = builder_lib.split_groups(
      collections.Counter(r.source for r, _ in chosen), FRACTIONS, salt="fakeavceleb")
  items = []
  for row, path in chosen:
    category = TYPES[row.type]  # the folder decides the labels, whatever the row says
    video_label = "fake" if row.type.startswith("FakeVideo") else "real"
    audio_label = "fake" if row.type.endswith("FakeAudio") else "real"
    label = "fake" if "fake" in (video_label, audio_label) else "real"
    method = "real" if category == "A" else (row.method or "unknown")
    extra = (("video_label", video_label), ("audio_label", audio_label), ("category", category))
    items.append(
        Item(split_of[row.source], builder_lib.rel(path, manual_dir), str(path), label, method,
             row.source, extra))
  return sorted(items, key=lambda it: it.video_id)
