"""python -m fakedetect_jax.media VIDEO [--frames N]: encode one video, print a JSON summary.

Exit 0 with one JSON object on stdout; exit 2 with one line on stderr when the file cannot be
read (naming the file and what is wrong).
"""
import argparse
import contextlib
import faulthandler
import json
import os
import sys
import warnings


def _quiet():
  # mediapipe (and TensorFlow, when loaded) log to stderr; keep stderr for our one-line errors.
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  os.environ.setdefault("GLOG_minloglevel", "2")
  warnings.filterwarnings("ignore", module="google.protobuf")


@contextlib.contextmanager
def _native_logs_silenced():
  """mediapipe and TFLite log from C++ straight to fd 2; hide that while encoding so stderr
    carries only our own one-line error. A hard crash still reaches the real stderr."""
  sys.stderr.flush()
  saved = os.dup(2)
  crash_log = os.fdopen(os.dup(saved), "w")
  faulthandler.enable(file=crash_log)
  null = os.open(os.devnull, os.O_WRONLY)
  os.dup2(null, 2)
  os.close(null)
  try:
    yield
  finally:
    sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)
    faulthandler.disable()
    crash_log.close()


def summary(ex, report):
  found = ex["face_found"]
  boxes = [[round(float(v), 1) for v in b] if f else None for b, f in zip(ex["boxes"], found)]
  return {
      "frames": int(len(ex["frame_indices"])),
      "frame_indices": [int(i) for i in ex["frame_indices"]],
      "faces_found": int(found.sum()),
      "boxes": boxes,
      "has_audio": bool(ex["has_audio"]),
      "audio_seconds": round(float(report.audio_seconds), 3),
      "mouth_found": int(ex["mouth_found"].sum()),
      "warnings": list(report.warnings),
  }


def main(argv=None):
  parser = argparse.ArgumentParser(prog="python -m fakedetect_jax.media", description=__doc__)
  parser.add_argument("video")
  parser.add_argument("--frames", type=int, default=32, help="frames to sample (default 32)")
  parser.add_argument("--sampling", default="even", choices=("even", "stride", "clips"))
  args = parser.parse_args(argv)
  if args.frames < 1:
    parser.error("--frames must be >= 1")
  _quiet()
  from fakedetect_jax.media import MediaConfig, MediaError, encode_video_with_report

  try:
    cfg = MediaConfig(num_frames=args.frames, sampling=args.sampling, clip_len=min(8, args.frames))
    with _native_logs_silenced():
      ex, report = encode_video_with_report(args.video, cfg)
  except MediaError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  except Exception as e:  # never a raw trace for a bad file; the type helps a bug report
    msg = " ".join(str(e).split())
    print(f"error: {args.video}: could not encode ({type(e).__name__}: {msg})", file=sys.stderr)
    return 2
  print(json.dumps(summary(ex, report)))
  return 0


if __name__ == "__main__":
  sys.exit(main())
