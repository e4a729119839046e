"""Example encoding vs bare decoding, on generated 10 s, 30 fps H.264 videos; and one long file.

    python experiments/benchmarks/media.py [--sizes 224p,480p,1080p] [--repeats 3] [--storage]
                                           [--long only|skip]

For each size prints seconds per video and source frames per second for
  (a)  bare PyAV decode of every frame (no pixel conversion): the floor,
  (a') decode of every frame to rgb24 (what a naive pipeline does),
  (b)  the full example encoding (decode, 32 sampled frames, faces, mouth, eyes, audio),
and the ratios (b)/(a) and (b)/(a'). Target: (b)/(a) <= 1.3 at 480p and 1080p.
Videos are generated once into --workdir: a moving, zooming real face photo over a panning
textured background with per-frame grain, so the bitrate (and decode cost) is realistic.
--storage also compares JPEG and PNG for the stored face crops (bytes and encode time).

Then the long case: `python -m fakedetect_jax.media` in a subprocess on a 10-minute 1080p,
25 fps file with a speech-like track (written once into --long-dir: a real face photo drifting
slowly, ultrafast x264), printing its wall time and peak RSS. Target: peak RSS < 1 GB, i.e. the
encoder streams the file. --tiny makes that a 20 s 360p file in --workdir/tiny.
"""
import argparse
import fractions
import json
import os
import statistics
import subprocess
import sys
import tempfile
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


LONG = {"full": (1920, 1080, 600), "tiny": (640, 360, 20)}  # width, height, seconds (25 fps)
LONG_FPS = 25


def make_long_video(path, w, h, seconds, sr=16000):
  """A long video, cheap to write: the astronaut photo drifting over a still background.

    Fifty positions are converted to yuv420p once and played back and forth (one step every
    fifth frame: slow movement), so writing costs little more than ultrafast x264 itself. The
    track is speech-like noise bursts at 16 kHz (AAC). Written to a temporary name, then renamed.
    """
  import av
  import cv2
  from skimage import data
  rng = np.random.default_rng(0)
  bg = cv2.resize(
      rng.integers(40, 215, (h // 24 + 2, w // 24 + 2, 3), dtype=np.uint8), (w, h),
      interpolation=cv2.INTER_CUBIC)
  side = int(h * 0.6)
  face = cv2.resize(data.astronaut(), (side, side), interpolation=cv2.INTER_AREA)
  steps = []
  for k in range(50):
    img = bg.copy()
    x, y = (w - side) // 2 + int(0.1 * w * k / 50), (h - side) // 2
    img[y:y + side, x:x + side] = face
    steps.append(av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p"))
  n = seconds * LONG_FPS
  t = np.arange(seconds * sr) / sr
  envelope = (np.sin(2 * np.pi * 2.5 * t) > 0).astype(np.float32)
  speech_like = (0.2 * np.sin(2 * np.pi * 180 * t) * envelope +
                 0.02 * rng.standard_normal(len(t))).astype(np.float32)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = f"{path}.{os.getpid()}.tmp.mp4"
  with av.open(tmp, "w") as out:
    vs = out.add_stream("libx264", rate=LONG_FPS, options={"preset": "ultrafast", "crf": "30"})
    vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
    a = out.add_stream("aac", rate=sr, layout="mono")
    tb = fractions.Fraction(1, LONG_FPS)
    chunk = sr // LONG_FPS
    for i in range(n):
      af = av.AudioFrame.from_ndarray(speech_like[None, i * chunk:(i + 1) * chunk], "flt", "mono")
      af.sample_rate, af.pts, af.time_base = sr, i * chunk, fractions.Fraction(1, sr)
      out.mux(a.encode(af))
      q = (i // 5) % 98  # back and forth over the 50 positions
      frame = steps[q if q < 50 else 97 - q]
      frame.pts, frame.time_base = i, tb
      out.mux(vs.encode(frame))
    out.mux(vs.encode(None))
    out.mux(a.encode(None))
  os.replace(tmp, path)


def run_measured(cmd, env=None):
  """Run cmd; (exit status, stdout, stderr, wall seconds, peak RSS bytes of that process)."""
  with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    return proc.returncode, out.read().decode(), err.read().decode(), wall, usage.ru_maxrss * 1024


def long_case(path, size):
  w, h, seconds = LONG[size]
  if not os.path.exists(path):
    t = time.perf_counter()
    make_long_video(path, w, h, seconds)
    print(
        f"wrote {path} ({os.path.getsize(path) / 1e6:.0f} MB) in {time.perf_counter() - t:.0f} s",
        flush=True)
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
  code, out, err, wall, rss = run_measured([sys.executable, "-m", "fakedetect_jax.media", path],
                                           env)
  if code != 0:
    raise SystemExit(f"python -m fakedetect_jax.media failed ({code}): {err.strip()}")
  summary = json.loads(out)
  n = seconds * LONG_FPS
  print(
      f"long {h}p {seconds} s ({n} frames, {os.path.getsize(path) * 8 / 1e6 / seconds:.1f} Mb/s): "
      f"python -m fakedetect_jax.media {wall:.1f} s wall ({n / wall:.0f} frames/s), "
      f"peak RSS {rss / 2**20:.0f} MiB (target < 1024); faces "
      f"{summary['faces_found']}/{summary['frames']}, audio {summary['audio_seconds']:.1f} s",
      flush=True)


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
      help="CI smoke run: one 2 s 224p video, one repeat, a 20 s 360p long file (in "
      "--workdir/tiny)")
  ap.add_argument(
      "--long",
      choices=("run", "only", "skip"),
      default="run",
      help="the long file case: after the table (run), alone (only) or not at all (skip)")
  ap.add_argument(
      "--long-dir",
      default=os.path.expanduser("~/.cache/fakedetect_jax/bench_media"),
      help="where the 10-minute 1080p file is written once")
  args = ap.parse_args()
  seconds = 10
  long_path = os.path.join(args.long_dir, "long_1080p_600s.mp4")
  if args.tiny:
    args.sizes, args.repeats, seconds = "224p", 1, 2
    args.workdir = os.path.join(args.workdir, "tiny")
    long_path = os.path.join(args.workdir, "long_360p_20s.mp4")
  if args.long == "only":
    long_case(long_path, "tiny" if args.tiny else "full")
    return
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
  if args.long == "run":
    long_case(long_path, "tiny" if args.tiny else "full")


if __name__ == "__main__":
  main()
