"""End-to-end seconds of `predict` on one 10 s 480p video, beside the bare decode time.

    python experiments/benchmarks/predict.py --detector=runs/quickstart [--repeats 3] [--frames N]

Prints, for a generated 10 s, 30 fps, 854x480 H.264+AAC video (media.py's realistic clip):
  decode       bare PyAV decode of every frame: the floor any reader pays
  load         Detector(...): config, checkpoint restore, detector.json (calibrated once before)
  first        the first predict in a fresh process: decode, faces, every branch (one so far,
               the frame model), fusion (the video score), including jit compilation and the
               face models' first load: what a user's first CLI call or first web request costs
  warm         the median of later predicts (what each further request costs)
  warm+explain the same with Grad-CAM heatmaps, contact sheet and score plot (the web page)
--frames overrides the number of sampled frames (the detector's media config otherwise).
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def timed(fn):
  t = time.perf_counter()
  out = fn()
  return time.perf_counter() - t, out


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--detector", required=True, help="a trained run's workdir")
  ap.add_argument("--repeats", type=int, default=3)
  ap.add_argument("--frames", type=int, default=0)
  ap.add_argument("--workdir", default="/tmp/fakedetect_predict_bench")
  args = ap.parse_args()
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  from experiments.benchmarks.media import bare_decode, make_video
  from fakedetect_jax.predict import Detector, clip

  os.makedirs(args.workdir, exist_ok=True)
  path = os.path.join(args.workdir, "480p_10s.mp4")
  if not os.path.exists(path):
    make_video(path, "480p")
  decode = statistics.median(timed(lambda: bare_decode(path))[0] for _ in range(args.repeats))

  load, det = timed(lambda: Detector(args.detector))
  if args.frames:
    det.encode_cfg = det.encode_cfg.replace(num_frames=args.frames)
  first, (result, _) = timed(lambda: clip.analyse(det, path))
  warm = statistics.median(timed(lambda: clip.analyse(det, path))[0] for _ in range(args.repeats))

  def explained():
    r, extras = clip.analyse(det, path, explain=True)
    clip.contact_sheet(r, extras["crops"], extras["heat"])
    clip.score_plot(r)

  timed(explained)  # compiles Grad-CAM
  warm_x = statistics.median(timed(explained)[0] for _ in range(args.repeats))

  n = det.encode_cfg.num_frames
  print(f"detector {det.model_name} at {det.image_size} px, {n} frames of "
        f"{det.media.face_size} px faces; video 10 s 480p 30 fps; faces found "
        f"{result['faces_found']}/{result['frames']}")
  print("| stage | seconds | x bare decode |")
  print("|---|---|---|")
  for name, s in (("bare decode (every frame)", decode), ("load detector", load),
                  ("first predict (cold)", first), ("warm predict",
                                                    warm), ("warm predict + explain", warm_x)):
    print(f"| {name} | {s:.2f} | {s / decode:.2f} |")


if __name__ == "__main__":
  main()
