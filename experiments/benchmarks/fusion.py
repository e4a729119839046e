"""Per-video inference time of a fused detector on a 10 s 480p video, beside the decode time.

    python experiments/benchmarks/fusion.py --detector=runs/fusion/detector [--size 480p]

Prints, per video (median over --repeats): (a) bare PyAV decode of every frame, (b) the example
encoding the detector reads (decode, sampled frames, faces, mouths, eyes, log-mel audio), (c) the
branches and the fusion on that example (after a warm-up call that compiles them), and b + c.
The media config is the one stored with the detector (the one its branches were trained on).
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--detector", required=True)
  ap.add_argument("--size", default="480p")
  ap.add_argument("--repeats", type=int, default=3)
  ap.add_argument("--workdir", default="/tmp/fakedetect_media_bench")
  args = ap.parse_args()
  from experiments.benchmarks import media as bench_media
  from fakedetect_jax.fusion import load_detector
  from fakedetect_jax.media import MediaConfig, encode_video

  os.makedirs(args.workdir, exist_ok=True)
  path = os.path.join(args.workdir, f"{args.size}.mp4")
  if not os.path.exists(path):
    bench_media.make_video(path, args.size)
  detector = load_detector(args.detector)
  cfg = MediaConfig(**detector.meta["media"]).replace(landmarks=True, audio=True)
  print(f"media: {cfg.num_frames} frames ({cfg.sampling}), {cfg.face_size} px faces", flush=True)
  ex = encode_video(path, cfg)
  detector.predict_example(ex)  # warm-up: compiles every branch
  rows = []
  for _ in range(args.repeats):
    a = bench_media.timed(lambda: bench_media.bare_decode(path))[0]
    t = time.perf_counter()
    ex = encode_video(path, cfg)
    b = time.perf_counter() - t
    t = time.perf_counter()
    out = detector.predict_example(ex)
    c = time.perf_counter() - t
    rows.append((a, b, c))
  med = lambda i: statistics.median(r[i] for r in rows)
  print(f"| video | decode s | encode s | detector s | encode + detector s | fake_prob |")
  print("|---|---|---|---|---|---|")
  print(f"| {args.size} 10 s | {med(0):.3f} | {med(1):.3f} | {med(2):.3f} | "
        f"{med(1) + med(2):.3f} | {out['fake_prob']:.3f} |")
  print("branches:", {k: None if v is None else round(v, 3) for k, v in out["branches"].items()})


if __name__ == "__main__":
  main()
