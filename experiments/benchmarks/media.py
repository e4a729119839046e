"""Example encoding vs bare decoding, on generated 10 s, 30 fps H.264 videos.

    python experiments/benchmarks/media.py [--sizes 224p,480p,1080p] [--repeats 3] [--storage]

For each size prints seconds per video and source frames per second for
  (a)  bare PyAV decode of every frame (no pixel conversion): the floor,
  (a') decode of every frame to rgb24 (what a naive pipeline does),
  (b)  the full example encoding (decode, 32 sampled frames, faces, mouth, eyes, audio),
and the ratios (b)/(a) and (b)/(a'). Target: (b)/(a) <= 1.3 at 480p and 1080p.
Videos are generated once into --workdir: a moving, zooming real face photo over a panning
textured background with per-frame grain, so the bitrate (and decode cost) is realistic.
--storage also compares JPEG and PNG for the stored face crops (bytes and encode time).
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

SIZES = {"224p": (398, 224), "480p": (854, 480), "1080p": (1920, 1080)}
GRAIN = 5.0  # film-grain sigma: puts bitrates near real uploads (~2 Mb/s 480p, ~7 Mb/s 1080p)


def _frames(w, h, n=300, seed=0):
  import cv2
  from skimage import data
  rng = np.random.default_rng(seed)
  tex = cv2.resize(
      rng.integers(40, 215, (h // 12 + 2, 2 * w // 12 + 2, 3), dtype=np.uint8), (2 * w, h),
      interpolation=cv2.INTER_CUBIC)
  grain = [rng.normal(0, GRAIN, (h, w, 1)).astype(np.int16) for _ in range(5)]
  photo = data.astronaut()
  for i in range(n):
    img = tex[:, int(i * w / n):int(i * w / n) + w].astype(np.int16)
    side = int(h * (0.75 + 0.1 * np.sin(i / 30)))
    face = cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA)
    x = int((w - side) * (0.5 + 0.35 * np.sin(i / 45)))
    y = (h - side) // 2
    img[y:y + side, x:x + side] = face
    g = np.roll(grain[i % 5], (int(rng.integers(h)), int(rng.integers(w))), (0, 1))
    yield np.clip(img + g, 0, 255).astype(np.uint8)


def make_video(path, name, seconds=10):
  from fakedetect_jax.media import write_video
  w, h = SIZES[name]
  sr = 16000
  t = np.arange(seconds * sr) / sr
  speech_like = (0.2 * np.sin(2 * np.pi * 180 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) +
                 0.02 * np.random.default_rng(1).standard_normal(len(t))).astype(np.float32)
  write_video(
      path,
      _frames(w, h, n=30 * seconds),
      fps=30,
      audio=speech_like,
      sample_rate=sr,
      crf=23,
      preset="faster")


def bare_decode(path, rgb=False):
  import av
  n = 0
  with av.open(path) as c:
    for frame in c.decode(video=0):
      if rgb:
        frame.to_ndarray(format="rgb24")
      n += 1
  return n


def timed(fn):
  """(wall seconds, CPU seconds of this process) for one call."""
  t, c = time.perf_counter(), time.process_time()
  fn()
  return time.perf_counter() - t, time.process_time() - c


def storage(path, cfg):
  from fakedetect_jax.media import encode_video, example_features
  ex = encode_video(path, cfg)
  feats = example_features(cfg)
  for fmt in ("jpeg", "png"):
    import tensorflow_datasets as tfds
    video = tfds.features.Video(shape=ex["frames"].shape, encoding_format=fmt)
    t = time.perf_counter()
    enc = video.encode_example(ex["frames"])
    dt = time.perf_counter() - t
    size = sum(len(x) for x in enc)
    print(f"  frames as {fmt}: {size / 1024:.0f} KiB per example "
          f"(raw {ex['frames'].nbytes / 1024:.0f} KiB), encode {dt * 1000:.0f} ms")
  ser = feats.serialize_example(ex)
  print(f"  whole serialized example: {len(ser) / 1024:.0f} KiB")


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--sizes", default="224p,480p,1080p")
  ap.add_argument("--repeats", type=int, default=5)
  ap.add_argument("--workdir", default="/tmp/fakedetect_media_bench")
  ap.add_argument("--storage", action="store_true")
  ap.add_argument(
      "--tiny",
      action="store_true",
      help="CI smoke run: one 2 s 224p video, one repeat (in --workdir/tiny)")
  args = ap.parse_args()
  seconds = 10
  if args.tiny:
    args.sizes, args.repeats, seconds = "224p", 1, 2
    args.workdir = os.path.join(args.workdir, "tiny")
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  os.environ.setdefault("GLOG_minloglevel", "2")
  import warnings
  warnings.filterwarnings("ignore", module="google.protobuf")
  from fakedetect_jax.media import MediaConfig, encode_video_with_report

  cfg = MediaConfig(num_frames=32)
  os.makedirs(args.workdir, exist_ok=True)
  print("seconds per video (median over repeats; a, a2 and b interleaved, since the machine "
        "is shared and noisy), source frames/s, ratio medians of per-repeat ratios; "
        "cpu = process CPU seconds")
  print(f"{'video':>6} {'Mb/s':>5} | {'(a) decode':>15} | {'(a2) to rgb24':>15} | "
        f"{'(b) encode':>15} | {'b/a':>5} {'b/a2':>5} | {'cpu a':>6} {'cpu b':>6} "
        f"{'b/a':>5} | faces mouths")
  for name in args.sizes.split(","):
    path = os.path.join(args.workdir, f"{name}.mp4")
    if not os.path.exists(path):
      make_video(path, name, seconds)
    n = bare_decode(path)
    encode_video_with_report(path, cfg)  # warm up: graph creation, imports
    rows = []
    result = {}
    for _ in range(args.repeats):
      a = timed(lambda: bare_decode(path))
      a2 = timed(lambda: bare_decode(path, rgb=True))
      b = timed(lambda: result.update(ex=encode_video_with_report(path, cfg)[0]))
      rows.append((a, a2, b))
    med = lambda f: statistics.median(f(r) for r in rows)
    ta, ta2, tb = med(lambda r: r[0][0]), med(lambda r: r[1][0]), med(lambda r: r[2][0])
    ca, cb = med(lambda r: r[0][1]), med(lambda r: r[2][1])
    ex = result["ex"]
    mbps = os.path.getsize(path) * 8 / 1e6 / seconds
    fmt = lambda t: f"{t:5.3f}s {n / t:5.0f}f/s"
    print(
        f"{name:>6} {mbps:5.1f} | {fmt(ta)} | {fmt(ta2)} | {fmt(tb)} | "
        f"{med(lambda r: r[2][0] / r[0][0]):5.2f} {med(lambda r: r[2][0] / r[1][0]):5.2f} | "
        f"{ca:6.3f} {cb:6.3f} {med(lambda r: r[2][1] / r[0][1]):5.2f} | "
        f"{int(ex['face_found'].sum()):5d} {int(ex['mouth_found'].sum()):6d}",
        flush=True)
    if args.storage:
      storage(path, cfg)


if __name__ == "__main__":
  main()
