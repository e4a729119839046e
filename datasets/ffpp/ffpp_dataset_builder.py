"""FaceForensics++ (with FaceShifter) and Google's DeepFakeDetection (DFD), from the user's download.

    tfds build datasets/ffpp --manual_dir=/data/FaceForensics++ --config=c23

(Name the config: without --config, `tfds build` builds every config, and those whose
compression level was not downloaded stop with an error naming the missing folder.)

Configs `raw`, `c23`, `c40`: the 1000 YouTube originals and the five methods' fakes at that
compression, in the official train/val/test split (pair lists from manual_dir/splits/); videos in
no list are left out. Configs `dfd_raw`, `dfd_c23`, `dfd_c40`: DFD actors and fakes, which have
no official split: split by actor, 70/15/15 (see `index_dfd`). No audio in either.
"""
import collections
import dataclasses
import json
import logging
import re

import tensorflow_datasets as tfds
from etils import epath

from fakedetect_jax import builder_lib
from fakedetect_jax.builder_lib import Item, LayoutError
from fakedetect_jax.media import MediaConfig

log = logging.getLogger(__name__)

METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter")
COMPRESSIONS = ("raw", "c23", "c40")
SPLIT_FILES = (("train", "train.json"), ("validation", "val.json"), ("test", "test.json"))
DFD_FRACTIONS = {"train": 0.70, "validation": 0.15, "test": 0.15}
LAYOUT = (
    "manual_dir/original_sequences/youtube/<c>/videos/000.mp4, "
    "manual_dir/manipulated_sequences/<Method>/<c>/videos/000_003.mp4, "
    "manual_dir/splits/{train,val,test}.json (the FaceForensics repository's dataset/splits/)")
DFD_LAYOUT = ("manual_dir/original_sequences/actors/<c>/videos/01__exit_phone_room.mp4, "
              "manual_dir/manipulated_sequences/DeepFakeDetection/<c>/videos/"
              "01_02__exit_phone_room__YVGY8LOK.mp4")


@dataclasses.dataclass(eq=False)
class FfppConfig(builder_lib.VideoConfig):
  compression: str = "c23"
  subset: str = "ffpp"  # "ffpp" (YouTube + five methods) or "dfd"


def _configs():
  no_audio = MediaConfig(audio=False)
  out = [
      FfppConfig(
          name=c,
          compression=c,
          media=no_audio,
          description=f"FF++ originals and the five methods at {c}, official split.")
      for c in COMPRESSIONS
  ]
  out += [
      FfppConfig(
          name=f"dfd_{c}",
          compression=c,
          subset="dfd",
          media=no_audio,
          description=f"DeepFakeDetection actors and fakes at {c}, split by actor "
          "70/15/15.") for c in COMPRESSIONS
  ]
  return out


class Builder(builder_lib.ManualVideoBuilder):
  """FaceForensics++ and DFD: one example per video (face crops, mouth, labels)."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = _configs()
  DEFAULT_BUILDER_CONFIG_NAME = "c23"
  DESCRIPTION = __doc__
  HOMEPAGE = "https://github.com/ondyari/FaceForensics"
  CITATION = """@inproceedings{roessler2019faceforensicspp,
  title={FaceForensics++: Learning to Detect Manipulated Facial Images},
  author={R\\"ossler, Andreas and Cozzolino, Davide and Verdoliva, Luisa and Riess, Christian
          and Thies, Justus and Nie{\\ss}ner, Matthias},
  booktitle={ICCV}, year={2019}}"""
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Request access with the form linked from https://github.com/ondyari/FaceForensics (you
    receive the download script), then download the compression level(s) you want as videos,
    e.g. for c23:
      python download-FaceForensics.py /data/FaceForensics++ -d all -c c23 -t videos
    (`-d all` includes FaceShifter and DeepFakeDetection). One level is enough: only the
    requested config's level must be present. Then copy the official split files from the
    FaceForensics repository (dataset/splits/train.json, val.json, test.json) into
    /data/FaceForensics++/splits/. manual_dir must then contain:
      original_sequences/youtube/c23/videos/000.mp4 ... 999.mp4
      manipulated_sequences/<Method>/c23/videos/000_003.mp4 ...   for the five methods
        Deepfakes, Face2Face, FaceSwap, NeuralTextures, FaceShifter
      splits/train.json, splits/val.json, splits/test.json
    and, for the dfd_* configs:
      original_sequences/actors/c23/videos/01__exit_phone_room.mp4 ...
      manipulated_sequences/DeepFakeDetection/c23/videos/01_02__exit_phone_room__YVGY8LOK.mp4 ...
    """

  def index(self, manual_dir):
    cfg = self.builder_config
    if cfg.subset == "dfd":
      return index_dfd(manual_dir, cfg.compression)
    return index_ffpp(manual_dir, cfg.compression)


def find_root(manual_dir):
  has_data = lambda d: (d / "original_sequences").is_dir() or (d / "manipulated_sequences").is_dir()
  root = builder_lib.find_dir(manual_dir, has_data, max_depth=2)
  if root is None:
    raise LayoutError(f"no original_sequences/ or manipulated_sequences/ folder under "
                      f"{manual_dir}; expected layout: {LAYOUT}")
  return root


def present_compressions(root):
  found = set()
  for c in COMPRESSIONS:
    dirs = [root / "original_sequences" / s / c / "videos" for s in ("youtube", "actors")]
    dirs += [
        root / "manipulated_sequences" / m / c / "videos" for m in METHODS + ("DeepFakeDetection",)
    ]
    if any(d.is_dir() for d in dirs):
      found.add(c)
  return ", ".join(c for c in COMPRESSIONS if c in found) or "none"


def read_split_pairs(manual_dir, root):
  """video id -> split, and fake stem ('a_b' and 'b_a') -> split, from the three pair lists."""
  splits_dir = next((d for d in (manual_dir / "splits", root / "splits") if d.is_dir()),
                    manual_dir / "splits")
  owner, fakes = {}, {}
  for split, name in SPLIT_FILES:
    path = builder_lib.require(splits_dir / name, "FF++ official split pairs", LAYOUT)
    try:
      pairs = json.loads(path.read_text())
    except ValueError as e:
      raise LayoutError(f"{path}: not valid JSON ({e}); expected a list of id pairs "
                        '[["071", "054"], ...]') from None
    for pair in pairs:
      if not (isinstance(pair, list) and len(pair) == 2):
        raise LayoutError(f"{path}: expected a list of id pairs [[\"071\", \"054\"], ...], "
                          f"found the entry {pair!r}")
      a, b = (str(v) for v in pair)
      for vid in (a, b):
        if owner.setdefault(vid, split) != split:
          raise LayoutError(f"{path}: video {vid} is also in the {owner[vid]} list")
      fakes[f"{a}_{b}"] = fakes[f"{b}_{a}"] = split
  return owner, fakes


def index_ffpp(manual_dir, compression):
  manual_dir = epath.Path(manual_dir)
  root = find_root(manual_dir)
  owner, fake_owner = read_split_pairs(manual_dir, root)
  originals = root / "original_sequences" / "youtube" / compression / "videos"
  if not originals.is_dir():
    raise LayoutError(f"missing {originals} (FF++ originals at {compression}); compression "
                      f"levels found: {present_compressions(root)}; expected layout: {LAYOUT}")
  items, left_out = [], collections.Counter()
  for path in builder_lib.videos_in(originals):
    split = owner.get(path.stem)
    if split is None:
      left_out["real"] += 1
      continue
    items.append(
        Item(split, builder_lib.rel(path, manual_dir), str(path), "real", "real", path.stem))
  fakes_dir = lambda m: root / "manipulated_sequences" / m / compression / "videos"
  methods = [m for m in METHODS if fakes_dir(m).is_dir()]
  if not methods:
    raise LayoutError(f"no manipulated_sequences/<Method>/{compression}/videos folder under {root} "
                      f"(methods: {', '.join(METHODS)}); expected layout: {LAYOUT}")
  if len(methods) < len(METHODS):
    log.warning("ffpp/%s: methods not downloaded, left out: %s", compression,
                ", ".join(m for m in METHODS if m not in methods))
  for method in methods:
    for path in builder_lib.videos_in(fakes_dir(method)):
      split = fake_owner.get(path.stem)
      if split is None or not re.fullmatch(r"\d+_\d+", path.stem):
        left_out[method] += 1
        continue
      # <target>_<source>: the frames are the target original's, so that is the source video.
      items.append(
          Item(split, builder_lib.rel(path, manual_dir), str(path), "fake", method,
               path.stem.split("_")[0]))
  if left_out:
    log.warning("ffpp/%s: videos in no official split left out: %s", compression,
                ", ".join(f"{k} {n}" for k, n in sorted(left_out.items())))
  return sorted(items, key=lambda it: it.video_id)


def _dfd_name(stem):
  """(actor, source video stem) from '01__scene' or '01_02__scene__HASH', or None."""
  parts = stem.split("__")
  if len(parts) < 2 or not parts[0]:
    return None
  actor = parts[0].split("_")[0]
  return actor, f"{actor}__{parts[1]}"


def index_dfd(manual_dir, compression):
  """DFD split by actor: an actor's originals and every fake made on them (first id of the
    fake's name) go to one split, so no original video and no target actor is in two splits.
    The face-donor actor (second id) can appear in another split: DFD pairs actors too densely
    for a donor-disjoint split that keeps most of the data."""
  manual_dir = epath.Path(manual_dir)
  root = find_root(manual_dir)
  folders = (("real", "real", root / "original_sequences" / "actors" / compression / "videos"),
             ("fake", "DeepFakeDetection",
              root / "manipulated_sequences" / "DeepFakeDetection" / compression / "videos"))
  rows, skipped = [], 0
  for label, method, folder in folders:
    if not folder.is_dir():
      raise LayoutError(f"missing {folder} (DFD {label} videos at {compression}); "
                        f"compression levels found: {present_compressions(root)}; "
                        f"expected layout: {DFD_LAYOUT}")
    for path in builder_lib.videos_in(folder):
      parsed = _dfd_name(path.stem)
      if parsed is None:
        skipped += 1
        continue
      rows.append((path, label, method, *parsed))
  if skipped:
    log.warning("dfd/%s: %d videos with unexpected names left out", compression, skipped)
  sizes = collections.Counter(actor for _, _, _, actor, _ in rows)
  split_of = builder_lib.split_groups(sizes, DFD_FRACTIONS, salt="dfd")
  items = [
      Item(split_of[actor], builder_lib.rel(path, manual_dir), str(path), label, method, source)
      for path, label, method, actor, source in rows
  ]
  return sorted(items, key=lambda it: it.video_id)
