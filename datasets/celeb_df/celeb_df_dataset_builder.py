"""Celeb-DF (v1, v2), from the user's download.

    tfds build datasets/celeb_df --manual_dir=/data/Celeb-DF-v2 --config=v2

test: exactly the official List_of_testing_videos.txt (present files). train / validation: the
rest, 90/10 by source video: a fake idA_idB_NNNN goes with its source Celeb-real/idA_NNNN, and a
video whose source group meets the test list is left out rather than put in train. No audio.
"""
import collections
import dataclasses
import logging
import re

import tensorflow_datasets as tfds
from etils import epath

from fakedetect_jax import builder_lib
from fakedetect_jax.builder_lib import Item, LayoutError
from fakedetect_jax.media import MediaConfig

log = logging.getLogger(__name__)

TEST_LIST = "List_of_testing_videos.txt"
FOLDERS = (("Celeb-real", "real"), ("YouTube-real", "real"), ("Celeb-synthesis", "fake"))
FRACTIONS = {"train": 0.9, "validation": 0.1}
FAKES = {"v1": 795, "v2": 5639}  # Celeb-synthesis sizes, to warn when the config looks wrong
LAYOUT = ("manual_dir/Celeb-real/id0_0000.mp4, manual_dir/YouTube-real/00000.mp4, "
          "manual_dir/Celeb-synthesis/id0_id16_0000.mp4, manual_dir/List_of_testing_videos.txt")


@dataclasses.dataclass(eq=False)
class CelebDfConfig(builder_lib.VideoConfig):
  pass


class Builder(builder_lib.ManualVideoBuilder):
  """Celeb-DF v1 / v2: one example per video (face crops, mouth, labels)."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [
      CelebDfConfig(
          name="v1",
          media=MediaConfig(audio=False),
          description="Celeb-DF v1 (408 real, 795 fake)."),
      CelebDfConfig(
          name="v2",
          media=MediaConfig(audio=False),
          description="Celeb-DF v2 (890 real, 5639 fake)."),
  ]
  DEFAULT_BUILDER_CONFIG_NAME = "v2"
  DESCRIPTION = __doc__
  HOMEPAGE = "https://github.com/yuezunli/celeb-deepfakeforensics"
  CITATION = """@inproceedings{li2020celebdf,
  title={Celeb-DF: A Large-scale Challenging Dataset for DeepFake Forensics},
  author={Li, Yuezun and Yang, Xin and Sun, Pu and Qi, Honggang and Lyu, Siwei},
  booktitle={CVPR}, year={2020}}"""
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Request Celeb-DF with the form linked from https://github.com/yuezunli/celeb-deepfakeforensics
    (v1 and v2 are separate downloads), unzip it and pass the unpacked folder as manual_dir
    (one wrapper folder, e.g. Celeb-DF-v2/, is fine). It must contain:
      Celeb-real/id0_0000.mp4 ...
      YouTube-real/00000.mp4 ...
      Celeb-synthesis/id0_id16_0000.mp4 ...
      List_of_testing_videos.txt
    """

  def index(self, manual_dir):
    return index(manual_dir, self.builder_config.name.split("+")[0])


def read_test_list(path):
  """[(label, 'folder/file.mp4')] from lines '<1 real|0 fake> <folder>/<file>.mp4'; no header."""
  out = []
  for n, line in enumerate(path.read_text().splitlines(), 1):
    if not line.strip():
      continue
    parts = line.split()
    if len(parts) != 2 or parts[0] not in ("0", "1"):
      raise LayoutError(f"{path}:{n}: expected '<1 real|0 fake> <folder>/<file>.mp4', "
                        f"found {line.strip()!r}")
    out.append(("real" if parts[0] == "1" else "fake", parts[1]))
  return out


def source_of(folder, stem):
  """The source video a file belongs with: a fake idA_idB_NNNN with Celeb-real/idA_NNNN."""
  if folder == "Celeb-synthesis":
    m = re.fullmatch(r"(id\d+)_id\d+_(\d+)", stem)
    if m:
      return f"Celeb-real/{m.group(1)}_{m.group(2)}"
  return f"{folder}/{stem}"


def index(manual_dir, version):
  manual_dir = epath.Path(manual_dir)
  root = builder_lib.find_dir(
      manual_dir, lambda d: (d / TEST_LIST).exists() or (d / "Celeb-real").is_dir(), max_depth=2)
  if root is None:
    raise LayoutError(
        f"no Celeb-real/ or {TEST_LIST} under {manual_dir}; expected layout: {LAYOUT}")
  listed = read_test_list(builder_lib.require(root / TEST_LIST, "the official test list", LAYOUT))
  rows = []  # (rel to root, label, path)
  for folder, label in FOLDERS:
    d = root / folder
    if not d.is_dir():
      if folder == "YouTube-real":
        log.warning("celeb_df: %s missing; continuing without it", d)
        continue
      raise LayoutError(f"missing {d} ({label} videos); expected layout: {LAYOUT}")
    rows += [(f"{folder}/{p.name}", label, p) for p in builder_lib.videos_in(d)]
  n_fake = sum(label == "fake" for _, label, _ in rows)
  other = min(FAKES, key=lambda v: abs(FAKES[v] - n_fake))
  if n_fake > 100 and other != version:
    log.warning("celeb_df/%s: %d fakes looks like Celeb-DF %s (%d fakes)", version, n_fake, other,
                FAKES[other])

  on_disk = {r: (label, p) for r, label, p in rows}
  test = {}
  for label, r in listed:
    if r not in on_disk:
      log.warning("celeb_df: listed test video %s is not on disk", r)
      continue
    if on_disk[r][0] != label:
      log.warning("celeb_df: %s is listed as %s but its folder says %s; using the folder", r, label,
                  on_disk[r][0])
    test[r] = True
  group = {r: source_of(*r[:-len(".mp4")].split("/", 1)) for r in on_disk}
  test_groups = {group[r] for r in test}
  rest = [r for r in on_disk if r not in test and group[r] not in test_groups]
  touched = len(on_disk) - len(test) - len(rest)
  if touched:
    log.warning(
        "celeb_df: %d videos share a source video with the test list but are not "
        "listed: left out of train and validation", touched)
  split_of = builder_lib.split_groups(
      collections.Counter(group[r] for r in rest), FRACTIONS, salt="celeb_df")
  items = []
  for r in sorted(test) + rest:
    label, path = on_disk[r]
    split = "test" if r in test else split_of[group[r]]
    method = "real" if label == "real" else "Celeb-synthesis"
    items.append(Item(split, builder_lib.rel(path, manual_dir), str(path), label, method, group[r]))
  return sorted(items, key=lambda it: it.video_id)
