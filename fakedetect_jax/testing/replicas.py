"""Tiny replicas of the four gated datasets' on-disk layouts, with real mp4 files.

Each writer lays out the exact folder and metadata conventions (and quirks) the builders in
datasets/ parse (each builder's MANUAL_DOWNLOAD_INSTRUCTIONS and LAYOUT describe them), with a
few short clips per category, and
returns a `Replica`: the ground truth a build must reproduce (per-video label, method, source,
known splits, expected split sizes), which files are corrupt and which must be left out.
Videos show skimage's astronaut photo (a real face the detector finds) over a textured
background; audio, where the real dataset has it, is a tone.

    replica = write_ffpp("/tmp/ff")       # then: tfds build datasets/ffpp --manual_dir=/tmp/ff
"""
import csv
import dataclasses
import io
import json
import os
from typing import Dict, List, Optional

import numpy as np

from fakedetect_jax.media import write_video

FPS = 25


@dataclasses.dataclass
class Video:
  label: str  # 'real' | 'fake'
  method: str  # 'real' for real videos
  source_id: str
  split: Optional[str] = None  # set when the split is fixed by the layout (official lists)
  corrupt: bool = False  # the build must skip it and go on
  extra: Dict[str, object] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Replica:
  manual_dir: str
  videos: Dict[str, Video]  # video_id -> truth, for every file the build tries to encode
  splits: Dict[str, int]  # examples per split after a build
  left_out: List[str]  # files on disk that no split may contain

  @property
  def corrupt(self):
    return sorted(k for k, v in self.videos.items() if v.corrupt)

  def expected_ids(self):
    return sorted(k for k, v in self.videos.items() if not v.corrupt)


# ------------------------------------------------------------------------------------ clips

_FACE = None


def face_clip(seed, frames=12, height=96, width=128, step=1.0):
  """uint8 [T,H,W,3]: the astronaut's face drifting `step` px a frame over a noise background."""
  global _FACE
  import cv2
  if _FACE is None:
    from skimage import data
    _FACE = data.astronaut()
  rng = np.random.default_rng(seed)
  small = rng.integers(60, 200, (height // 16 + 2, width // 16 + 2, 3)).astype(np.uint8)
  bg = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
  side = int(rng.integers(140, 165))  # the face (~27% of the photo) is then ~40 px wide
  face = cv2.resize(_FACE, (side, side), interpolation=cv2.INTER_AREA)
  x, y = int(rng.integers(-30, 0)), int(rng.integers(-20, -5))
  out = []
  for i in range(frames):
    f, xi = bg.copy(), x + int(round(i * step))
    x0, y0, x1, y1 = max(0, xi), max(0, y), min(width, xi + side), min(height, y + side)
    f[y0:y1, x0:x1] = face[y0 - y:y1 - y, x0 - xi:x1 - xi]
    out.append(f)
  return np.stack(out)


def tone(seed, frames=12, sample_rate=16000):
  t = np.arange(int(frames / FPS * sample_rate)) / sample_rate
  return (0.2 * np.sin(2 * np.pi * (220 + 40 * (seed % 10)) * t)).astype(np.float32)


def write_clip(path, seed, audio=False, corrupt=False):
  """A real H.264 mp4 (+AAC when audio); corrupt: cut after 2 KB, so its index is lost."""
  write_video(path, face_clip(seed), fps=FPS, audio=tone(seed) if audio else None)
  if corrupt:
    with open(path, "rb") as f:
      head = f.read(2048)
    with open(path, "wb") as f:
      f.write(head)


class _Writer:

  def __init__(self, manual_dir, audio):
    self.manual_dir, self.audio = os.fspath(manual_dir), audio
    self.videos, self.left_out, self.seed = {}, [], 0

  def add(self, rel, truth=None, corrupt=False):
    """Write manual_dir/rel; truth=None marks a file the build must leave out."""
    self.seed += 1
    write_clip(os.path.join(self.manual_dir, rel), self.seed, self.audio, corrupt)
    if truth is None:
      self.left_out.append(rel)
    else:
      truth.corrupt = corrupt
      self.videos[rel] = truth

  def text(self, rel, content):
    path = os.path.join(self.manual_dir, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as f:
      f.write(content)

  def replica(self, splits):
    return Replica(self.manual_dir, self.videos, splits, sorted(self.left_out))


# ----------------------------------------------------------------------------------- FF++

FFPP_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter")


def write_ffpp(manual_dir, compression="c23"):
  """FF++ with only one compression level, its split files, a mask folder, a video in no
    split, a corrupt fake; and DFD (4 actors, one original and one fake each).

    Returns (ffpp replica, dfd replica) over the same manual_dir. DFD has no fixed split; its
    4 actor groups of 2 videos split 70/15/15 as 2/1/1 groups whatever their order.
    """
  w = _Writer(manual_dir, audio=False)
  pairs = {
      "train": [["000", "001"], ["002", "003"]],
      "val": [["004", "005"]],
      "test": [["006", "007"]]
  }
  split_name = {"train": "train", "val": "validation", "test": "test"}
  for name, lst in pairs.items():
    w.text(f"splits/{name}.json", json.dumps(lst))
  owner = {v: split_name[s] for s, lst in pairs.items() for p in lst for v in p}
  orig = f"original_sequences/youtube/{compression}/videos"
  for vid in sorted(owner):
    w.add(f"{orig}/{vid}.mp4", Video("real", "real", vid, owner[vid]))
  w.add(f"{orig}/008.mp4")  # in no split list: left out
  for method in FFPP_METHODS:
    for a, b in (("000", "001"), ("002", "003"), ("004", "005"), ("006", "007")):
      w.add(f"manipulated_sequences/{method}/{compression}/videos/{a}_{b}.mp4",
            Video("fake", method, a, owner[a]))
  w.add(
      f"manipulated_sequences/Deepfakes/{compression}/videos/001_000.mp4",
      Video("fake", "Deepfakes", "001", "train"),
      corrupt=True)
  w.add(f"manipulated_sequences/Deepfakes/{compression}/videos/008_009.mp4")  # no split
  w.add(f"manipulated_sequences/Deepfakes/masks/videos/000_001.mp4")  # masks: never examples
  ffpp = w.replica({"train": 14, "validation": 7, "test": 7})

  d = _Writer(manual_dir, audio=False)
  d.seed = 1000
  for i, (actor, donor) in enumerate((("01", "02"), ("02", "03"), ("03", "04"), ("04", "01"))):
    scene = ("exit_phone_room", "kitchen_pan", "meeting_serious", "walking_outside")[i]
    d.add(f"original_sequences/actors/{compression}/videos/{actor}__{scene}.mp4",
          Video("real", "real", f"{actor}__{scene}"))
    d.add(
        f"manipulated_sequences/DeepFakeDetection/{compression}/videos/"
        f"{actor}_{donor}__{scene}__{'ABCDEFGH'[i] * 8}.mp4",
        Video("fake", "DeepFakeDetection", f"{actor}__{scene}"))
  return ffpp, d.replica({"train": 4, "validation": 2, "test": 2})


# ------------------------------------------------------------------------------- Celeb-DF


def write_celeb_df(manual_dir):
  """Celeb-DF (v1 and v2 share the layout). The test list's first line is data; one listed
    file is missing and one is corrupt; the real source of a test fake that is not itself
    listed must be left out. The other 4 source groups (real + fake) split 3/1 train/val."""
  w = _Writer(manual_dir, audio=False)
  test_list = [("1", "YouTube-real/00000.mp4"), ("1", "YouTube-real/00001.mp4"),
               ("1", "Celeb-real/id2_0001.mp4"), ("0", "Celeb-synthesis/id2_id1_0001.mp4"),
               ("0", "Celeb-synthesis/id0_id1_0000.mp4"), ("0", "Celeb-synthesis/id1_id0_0002.mp4"),
               ("1", "Celeb-real/id9_0000.mp4")]  # the last one is not on disk
  listed = {p for _, p in test_list}
  for real in ("id0_0000", "id0_0001", "id1_0000", "id1_0001", "id2_0000", "id2_0001"):
    rel = f"Celeb-real/{real}.mp4"
    if real == "id0_0000":
      w.add(rel)  # its fake is in the test list, it is not: in no split
    else:
      w.add(rel, Video("real", "real", f"Celeb-real/{real}", "test" if rel in listed else None))
  for fake in ("id0_id1_0000", "id0_id2_0001", "id1_id0_0000", "id1_id2_0001", "id2_id0_0000",
               "id2_id1_0001", "id1_id0_0002"):
    t, _, n = fake.split("_")
    rel = f"Celeb-synthesis/{fake}.mp4"
    w.add(
        rel,
        Video("fake", "Celeb-synthesis", f"Celeb-real/{t}_{n}", "test" if rel in listed else None),
        corrupt=fake == "id1_id0_0002")
  for yt in ("00000", "00001"):
    w.add(f"YouTube-real/{yt}.mp4", Video("real", "real", f"YouTube-real/{yt}", "test"))
  w.text("List_of_testing_videos.txt", "".join(f"{lab} {p}\n" for lab, p in test_list))
  return w.replica({"train": 6, "validation": 2, "test": 5})


# ----------------------------------------------------------------------------------- DFDC


def _dfdc_meta(entries):
  out = {}
  for name, label, original in entries:
    out[name] = {"label": label, "split": "train"}
    if original:
      out[name]["original"] = original
  return json.dumps(out)


def write_dfdc(manual_dir, test_format="csv"):
  """DFDC: part 0 flat, part 1 nested one level deeper (as some unzips leave it); a fake in
    part 1 whose original is in part 0; a listed-but-missing video; a file not in any
    metadata; a test folder with labels.csv (or metadata.json) and a corrupt test video.
    5 groups (an original and its fake) -> validation takes 1 group (5%, at least one)."""
  w = _Writer(manual_dir, audio=True)
  parts = {
      "dfdc_train_part_0": [("aaaaaaaaaa", "REAL", None), ("bbbbbbbbbb", "REAL", None),
                            ("cccccccccc", "REAL", None), ("faaaaaaaaa", "FAKE", "aaaaaaaaaa"),
                            ("fbbbbbbbbb", "FAKE", "bbbbbbbbbb")],
      "dfdc_train_part_01/dfdc_train_part_1": [("dddddddddd", "REAL", None),
                                               ("eeeeeeeeee", "REAL", None),
                                               ("fddddddddd", "FAKE", "dddddddddd"),
                                               ("feeeeeeeee", "FAKE", "eeeeeeeeee"),
                                               ("fccccccccc", "FAKE", "cccccccccc")]
  }
  for part, entries in parts.items():
    for stem, label, orig in entries:
      kind = label.lower()  # no method labels in DFDC: the method is 'real' or 'fake'
      w.add(f"{part}/{stem}.mp4", Video(kind, kind, orig or stem))
    meta = [(f"{s}.mp4", lab, f"{o}.mp4" if o else None) for s, lab, o in entries]
    if part == "dfdc_train_part_0":
      meta.append(("gggggggggg.mp4", "REAL", None))  # listed, not on disk
    w.text(f"{part}/metadata.json", _dfdc_meta(meta))
  w.add("dfdc_train_part_0/zzzzzzzzzz.mp4")  # on disk, in no metadata: left out
  test = [("taaaaaaaaa", 0), ("tbbbbbbbbb", 1), ("tccccccccc", 0), ("tddddddddd", 1)]
  for stem, fake in test:
    w.add(
        f"test/{stem}.mp4",
        Video("fake" if fake else "real", "fake" if fake else "real", stem, "test"),
        corrupt=stem == "tddddddddd")
  if test_format == "csv":
    w.text("test/labels.csv", "filename,label\n" + "".join(f"{s}.mp4,{f}\n" for s, f in test))
  else:
    w.text("test/metadata.json", json.dumps({f"{s}.mp4": {"is_fake": f} for s, f in test}))
  return w.replica({"train": 8, "validation": 2, "test": 3})


def write_dfdcp(manual_dir):
  """DFDC preview: dataset.json keyed by relative path, split by its `set` field. Train holds
    4 identities (a real and a fake each: 3/1 train/validation); test 2 identities with one
    corrupt fake; a train video of a test identity must be left out."""
  w = _Writer(manual_dir, audio=True)
  meta = {}

  def add(rel, label, split, target, swapped=None, method="real", corrupt=False, keep=True):
    meta[rel] = {
        "label": label,
        "set": split,
        "augmentations": [],
        "target_id": target,
        "swapped_id": swapped
    }
    w.add(
        rel,
        Video(label, method, target, "test" if split == "test" else None) if keep else None,
        corrupt=corrupt)

  people = (("1000001", "train"), ("1000002", "train"), ("1000003", "train"), ("1000004", "train"),
            ("1000005", "test"), ("1000006", "test"))
  for k, (target, split) in enumerate(people):
    method = "method_A" if k % 2 == 0 else "method_B"
    suffix = method[-1]
    add(f"original_videos/{target}/{target}_{suffix}/{target}_{suffix}_001.mp4", "real", split,
        target)
    donor = str(2000001 + k)
    add(f"{method}/{target}/{target}_{suffix}/{donor}_{target}_{suffix}_001.mp4",
        "fake",
        split,
        target,
        donor,
        method,
        corrupt=target == "1000006")
  add("method_A/1000005/1000005_A/2000099_1000005_A_002.mp4",
      "fake",
      "train",
      "1000005",
      "2000099",
      "method_A",
      keep=False)  # train video of a test identity
  w.text("dataset.json", json.dumps(meta, indent=1))
  return w.replica({"train": 6, "validation": 2, "test": 3})


# ---------------------------------------------------------------------------- FakeAVCeleb

FAV_TYPES = {
    "A": "RealVideo-RealAudio",
    "B": "RealVideo-FakeAudio",
    "C": "FakeVideo-RealAudio",
    "D": "FakeVideo-FakeAudio"
}
FAV_HEADER = "source,target1,target2,method,category,type,race,gender,path,"


def write_fakeavceleb(manual_dir):
  """FakeAVCeleb v1.2 nested twice (FakeAVCeleb_v1.2/FakeAVCeleb_v1.2/), meta_data.csv with
    its trailing comma, '-' for empty, the folder in the 10th column, race folders with spaces
    and parentheses, two files listed twice with conflicting methods, a listed-but-missing file,
    and a corrupt video of a sixth identity that has nothing else.

    5 identities x 4 categories, + the corrupt one: identity-disjoint 70/15/15 splits. The
    expected split sizes follow from builder_lib.split_groups' md5 order of the identities (pinned
    here: a change of that rule changes every user's splits and must show up in the tests).
    """
  base = "FakeAVCeleb_v1.2/FakeAVCeleb_v1.2"
  w = _Writer(manual_dir, audio=True)
  people = (("id00001", "African", "men"), ("id00002", "Asian (East)", "women"),
            ("id00003", "Asian (South)", "men"), ("id00004", "Caucasian (American)", "women"),
            ("id00005", "Caucasian (European)", "men"))
  rows = []

  def add(src, race, gender, cat, method, fname, target="-", corrupt=False, on_disk=True):
    folder = f"{FAV_TYPES[cat]}/{race}/{gender}/{src}"
    rows.append([
        src, target, "-", method, cat, FAV_TYPES[cat], race, gender, fname, f"FakeAVCeleb/{folder}"
    ])
    if on_disk:
      video_label = "fake" if cat in "CD" else "real"
      audio_label = "fake" if cat in "BD" else "real"
      w.add(
          f"{base}/{folder}/{fname}",
          Video(
              "real" if cat == "A" else "fake",
              "real" if cat == "A" else method,
              src,
              extra={
                  "video_label": video_label,
                  "audio_label": audio_label,
                  "category": cat
              }),
          corrupt=corrupt)

  for i, (src, race, gender) in enumerate(people):
    donor = people[(i + 1) % len(people)][0]
    add(src, race, gender, "A", "real", "00001.mp4")
    add(src, race, gender, "B", "rtvc", "00001_fake.mp4")
    add(src,
        race,
        gender,
        "C", ("faceswap", "fsgan", "wav2lip")[i % 3],
        f"00001_{donor}_faceswap.mp4",
        target=donor)
    add(src,
        race,
        gender,
        "D",
        "fsgan-wav2lip" if src == "id00003" else "wav2lip",
        f"00001_{donor}_wavtolip.mp4",
        target=donor)
  # Conflicting duplicates: resolved to a method valid for the category, then the first
  # method name in sorted order ('fsgan-wav2lip' < 'wav2lip'; 'rtvc' is not a C method).
  for src, donor, race, gender, cat, method, fname in (("id00003", "id00004", "Asian (South)",
                                                        "men", "D", "wav2lip",
                                                        "00001_id00004_wavtolip.mp4"),
                                                       ("id00001", "id00002", "African", "men", "C",
                                                        "rtvc", "00001_id00002_faceswap.mp4")):
    rows.append([
        src, donor, "-", method, cat, FAV_TYPES[cat], race, gender, fname,
        f"FakeAVCeleb/{FAV_TYPES[cat]}/{race}/{gender}/{src}"
    ])
  add("id00002", "Asian (East)", "women", "B", "rtvc", "00002_fake.mp4", on_disk=False)
  add("id00006", "African", "women", "A", "real", "00001.mp4", corrupt=True)
  buf = io.StringIO()
  csv.writer(buf, lineterminator="\n").writerows(rows)
  w.text(f"{base}/meta_data.csv", FAV_HEADER + "\n" + buf.getvalue())
  return w.replica(dict(FAV_SPLITS))


# Pinned: the 6 identities ordered by md5("fakeavceleb" + id), cut 15% test, 15% validation.
FAV_SPLITS = {"train": 12, "validation": 4, "test": 4}

# --------------------------------------------------------------- temporal localization

# Localization replicas: 32 frames at 25 fps (1.28 s), 96 px square, with audio, as LAV-DF and
# AV-Deepfake1M's 224 px talking heads are, only smaller.
LOC_FRAMES, LOC_SIZE = 32, 96
LOC_SECONDS = LOC_FRAMES / FPS


def write_loc_clip(path, seed, frames=LOC_FRAMES):
  """A real H.264 + AAC mp4 of `frames` frames (face_clip at LOC_SIZE, a tone)."""
  write_video(
      path,
      face_clip(seed, frames=frames, height=LOC_SIZE, width=LOC_SIZE, step=0.5),
      fps=FPS,
      audio=tone(seed, frames=frames))


@dataclasses.dataclass
class LocReplica(Replica):
  """A localization replica: also each written video's segments as the build must store them
    (clipped to the video), its modify_type, and the index-time skips (file -> why)."""
  segments: Dict[str, Dict[str, list]] = dataclasses.field(default_factory=dict)
  modify_type: Dict[str, str] = dataclasses.field(default_factory=dict)
  bad_metadata: Dict[str, str] = dataclasses.field(default_factory=dict)
  hidden: List[str] = dataclasses.field(default_factory=list)  # video_ids without labels


class _LocWriter(_Writer):

  def __init__(self, manual_dir):
    super().__init__(manual_dir, audio=True)
    self.segments, self.modify_type, self.bad, self.hidden = {}, {}, {}, []

  def add(self, rel, truth=None, corrupt=False, frames=LOC_FRAMES, segments=None, modify_type=None):
    self.seed += 1
    write_loc_clip(os.path.join(self.manual_dir, rel), self.seed, frames)
    if truth is None:
      self.left_out.append(rel)
      return
    truth.corrupt = corrupt
    self.videos[rel] = truth
    if segments is not None:
      self.segments[rel] = segments
      self.modify_type[rel] = modify_type

  def replica(self, splits):
    return LocReplica(self.manual_dir, self.videos, splits, sorted(self.left_out), self.segments,
                      self.modify_type, self.bad, self.hidden)


def _loc_segments(modify_type, periods):
  visual = periods if modify_type in ("visual_modified", "both_modified") else []
  audio = periods if modify_type in ("audio_modified", "both_modified") else []
  return {"fake_segments": periods, "visual_fake_segments": visual, "audio_fake_segments": audio}


def write_lavdf(manual_dir):
  """LAV-DF under manual_dir/LAV-DF: metadata.json (a list; the full file's extra fields
    present), train/dev/test folders. 8 good videos (real, both, audio-only and visual-only
    fakes with their originals in the same split), with the quirks: an audio period ending
    4 ms past `duration` (clipped), `video_frames` one more than decodes, two periods in one
    video. Bad metadata, skipped at indexing: a period clearly past the end, a reversed period,
    a file listed but not on disk, an entry without `split`. And one whose `duration` claims 2 s
    while 1.28 s decode, with a period at 1.5-1.9 s: only the decoded video shows it is past
    the end, so the build skips it while encoding (counted like a corrupt file).

    Returns a LocReplica; splits train 4, validation 2, test 2."""
  w = _LocWriter(manual_dir)
  base = "LAV-DF"
  entries = []

  def entry(file,
            split,
            periods,
            modify_video,
            modify_audio,
            original=None,
            duration=None,
            video_frames=LOC_FRAMES):
    entries.append({
        "file": file,
        "n_fakes": len(periods),
        "fake_periods": periods,
        "timestamps": [],  # the full metadata.json's word timings (ignored)
        "duration": LOC_SECONDS if duration is None else duration,
        "transcript": "",
        "original": original,
        "modify_video": modify_video,
        "modify_audio": modify_audio,
        "split": split,
        "video_frames": video_frames,
        "audio_channels": 1,
        "audio_frames": int(LOC_SECONDS * 16000),
    })

  def good(file, split, periods, kind, original=None, stored=None, **kw):
    split_name = {"train": "train", "dev": "validation", "test": "test"}[split]
    label = "real" if kind == "real" else "fake"
    w.add(
        f"{base}/{file}",
        Video(label, kind, original or file, split_name),
        segments=_loc_segments(kind, periods if stored is None else stored),
        modify_type=kind)
    entry(file, split, periods, kind in ("visual_modified", "both_modified"), kind
          in ("audio_modified", "both_modified"), original, **kw)

  good("train/000001.mp4", "train", [], "real")
  good("train/000002.mp4", "train", [[0.40, 0.80]], "both_modified", "train/000001.mp4")
  good(
      "train/000003.mp4",
      "train", [[1.00, LOC_SECONDS + 0.004]],
      "audio_modified",
      "train/000001.mp4",
      stored=[[1.00, LOC_SECONDS]])
  good(
      "train/000004.mp4",
      "train", [[0.20, 0.50], [0.90, 1.10]],
      "visual_modified",
      "train/000001.mp4",
      video_frames=LOC_FRAMES + 1)
  good("dev/000005.mp4", "dev", [], "real")
  good("dev/000006.mp4", "dev", [[0.50, 0.90]], "visual_modified", "dev/000005.mp4")
  good("test/000007.mp4", "test", [], "real")
  good("test/000008.mp4", "test", [[0.10, 0.30]], "both_modified", "test/000007.mp4")
  # Bad metadata, skipped when indexing (files on disk but in no split).
  w.add(f"{base}/train/000009.mp4")
  entry("train/000009.mp4", "train", [[1.00, 2.50]], True, False, "train/000001.mp4")
  w.bad["train/000009.mp4"] = "past the video's end"
  w.add(f"{base}/train/000010.mp4")
  entry("train/000010.mp4", "train", [[0.90, 0.30]], False, True, "train/000001.mp4")
  w.bad["train/000010.mp4"] = "empty or reversed"
  entry("train/000011.mp4", "train", [[0.2, 0.4]], True, True, "train/000001.mp4")
  w.bad["train/000011.mp4"] = "not on disk"
  w.add(f"{base}/dev/000013.mp4")
  entries.append({"file": "dev/000013.mp4", "fake_periods": [], "duration": LOC_SECONDS})
  w.bad["dev/000013.mp4"] = "split None"
  # Past the end of the decoded video only: skipped while encoding.
  w.add(
      f"{base}/dev/000012.mp4",
      Video("fake", "visual_modified", "dev/000005.mp4", "validation"),
      corrupt=True)
  entry("dev/000012.mp4", "dev", [[1.50, 1.90]], True, False, "dev/000005.mp4", duration=2.0)
  w.text(f"{base}/metadata.json", json.dumps(entries, indent=1))
  return w.replica({"train": 4, "validation": 2, "test": 2})


def write_av_deepfake1m(manual_dir, hidden_test=True):
  """AV-Deepfake1M under manual_dir/AV-Deepfake1M: train_metadata.json and train/ (4 identities,
    a real and a fake clip each), val_metadata.json and val/ (a fifth identity: the test split),
    and with hidden_test test_files.txt and test/ (2 unlabelled clips: the submission split).
    Quirks: an audio segment 4 ms past video_frames / 25 (clipped), video_frames one more than
    decodes, visual and audio segments that differ within one video. Bad metadata, skipped at
    indexing: a segment clearly past the end, a listed file not on disk, an unknown
    modify_type; and one past the decoded end only (video_frames claims 60), skipped while
    encoding (counted like a corrupt file). The train identities split 3 / 1 train / validation (5%, at least one
    identity), pinned by builder_lib.split_groups' md5 order.

    Returns a LocReplica; splits train 6, validation 2, test 3 (+ submission 2)."""
  w = _LocWriter(manual_dir)
  base = "AV-Deepfake1M"
  meta = {"train": [], "val": []}

  def entry(folder, file, kind, visual=(), audio=(), fake=None, video_frames=LOC_FRAMES, model=""):
    fake = sorted(list(visual) + list(audio)) if fake is None else fake
    meta[folder].append({
        "file": file,
        "original": None if kind == "real" else file.rsplit("/", 1)[0] + "/real.mp4",
        "split": folder,
        "modify_type": kind,
        "audio_model": model,
        "fake_segments": [list(s) for s in fake],
        "audio_fake_segments": [list(s) for s in audio],
        "visual_fake_segments": [list(s) for s in visual],
        "video_frames": video_frames,
        "audio_frames": int(LOC_SECONDS * 16000),
    })

  def good(folder, file, kind, visual=(), audio=(), fake=None, stored_audio=None, **kw):
    label = "real" if kind == "real" else "fake"
    split = "test" if folder == "val" else None
    person = file.split("/")[0]
    fake_stored = sorted(list(visual) + list(stored_audio or audio)) if fake is None else fake
    w.add(
        f"{base}/{folder}/{file}",
        Video(label, kind, person, split),
        segments={
            "fake_segments": [list(s) for s in fake_stored],
            "visual_fake_segments": [list(s) for s in visual],
            "audio_fake_segments": [list(s) for s in (stored_audio or audio)]
        },
        modify_type=kind)
    entry(folder, file, kind, visual, audio, fake, **kw)

  good("train", "id00001/vidA/00001/real.mp4", "real")
  good(
      "train",
      "id00001/vidA/00001/fake_video_fake_audio.mp4",
      "both_modified",
      visual=[(0.40, 0.80)],
      audio=[(0.40, 0.80)],
      fake=[[0.40, 0.80]],
      model="yourtts")
  good("train", "id00002/vidB/00002/real.mp4", "real")
  good(
      "train",
      "id00002/vidB/00002/fake_video_real_audio.mp4",
      "visual_modified",
      visual=[(0.20, 0.60)],
      video_frames=LOC_FRAMES + 1)
  good("train", "id00003/vidC/00003/real.mp4", "real")
  good(
      "train",
      "id00003/vidC/00003/real_video_fake_audio.mp4",
      "audio_modified",
      audio=[(1.00, LOC_SECONDS + 0.004)],
      stored_audio=[(1.00, LOC_SECONDS)],
      fake=[[1.00, LOC_SECONDS]],
      model="vits")
  # fake_segments as the metadata has it (the union): the 4 ms overshoot clipped only in audio
  meta["train"][-1]["fake_segments"] = [[1.00, LOC_SECONDS + 0.004]]
  good("train", "id00004/vidD/00004/real.mp4", "real")
  good(
      "train",
      "id00004/vidD/00004/fake_video_fake_audio.mp4",
      "both_modified",
      visual=[(0.20, 0.40)],
      audio=[(0.30, 0.60)],
      fake=[[0.20, 0.60]],
      model="yourtts")
  good("val", "id00005/vidE/00005/real.mp4", "real")
  good(
      "val",
      "id00005/vidE/00005/fake_video_real_audio.mp4",
      "visual_modified",
      visual=[(0.52, 0.76)])
  good(
      "val",
      "id00005/vidE/00005/real_video_fake_audio.mp4",
      "audio_modified",
      audio=[(0.08, 0.36)],
      model="vits")
  # Bad metadata, skipped when indexing.
  w.add(f"{base}/train/id00001/vidA/00009/fake_video_fake_audio.mp4")
  entry("train", "id00001/vidA/00009/fake_video_fake_audio.mp4", "both_modified", [(1.00, 3.00)],
        [(1.00, 3.00)])
  w.bad["train/id00001/vidA/00009/fake_video_fake_audio.mp4"] = "past the video's end"
  entry("train", "id00002/vidB/00008/real.mp4", "real")
  w.bad["train/id00002/vidB/00008/real.mp4"] = "not on disk"
  w.add(f"{base}/val/id00005/vidE/00007/fake_video_fake_audio.mp4")
  entry("val", "id00005/vidE/00007/fake_video_fake_audio.mp4", "sideways", [(0.2, 0.4)])
  w.bad["val/id00005/vidE/00007/fake_video_fake_audio.mp4"] = "modify_type 'sideways'"
  # video_frames claims 2.4 s, 1.28 s decode: past the decoded end, skipped while encoding.
  w.add(
      f"{base}/val/id00005/vidE/00006/fake_video_fake_audio.mp4",
      Video("fake", "both_modified", "id00005", "test"),
      corrupt=True)
  entry(
      "val",
      "id00005/vidE/00006/fake_video_fake_audio.mp4",
      "both_modified", [(1.5, 2.0)], [(1.5, 2.0)], [[1.5, 2.0]],
      video_frames=60)
  for folder, entries in meta.items():
    w.text(f"{base}/{folder}_metadata.json", json.dumps(entries))
  splits = {"train": 6, "validation": 2, "test": 3}
  if hidden_test:
    hidden = ["id00006/vidF/00006/000.mp4", "id00007/vidG/00007/000.mp4"]
    for file in hidden:
      w.add(
          f"{base}/test/{file}",
          Video("fake", "unknown",
                file.split("/")[0], "submission"),
          segments={k: [] for k in ("fake_segments", "visual_fake_segments", "audio_fake_segments")},
          modify_type="unknown")
      w.hidden.append(f"{base}/test/{file}")
    w.text(f"{base}/test_files.txt", "".join(f"{f}\n" for f in hidden))
    splits["submission"] = 2
  return w.replica(splits)
