"""python -m fakedetect_jax.serve --detector=RUN_DIR [--host 127.0.0.1] [--port 8080]
                               [--max-upload-mb 200] [--max-concurrent 2]

Serves a page where a user uploads a video and sees the verdict, the per-branch scores, the
per-frame score plot and Grad-CAM thumbnails; beside it a JSON API (POST /api/detect with the
file as the body, GET /api/health). The detector is loaded and compiled once, before the port
opens. Bound to localhost unless --host says otherwise (the page has no authentication).
"""
import argparse
import os
import sys


def main(argv=None):
  parser = argparse.ArgumentParser(
      prog="python -m fakedetect_jax.serve",
      description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--detector", required=True, help="a trained run's workdir")
  parser.add_argument(
      "--host",
      default="127.0.0.1",
      help="address to bind (default localhost only; 0.0.0.0 exposes it)")
  parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
  parser.add_argument("--max-upload-mb", type=float, default=200.0)
  parser.add_argument(
      "--max-concurrent",
      type=int,
      default=2,
      help="detections at once; more get 503 (each holds a video's frames)")
  parser.add_argument("--quiet", action="store_true", help="no request log")
  args = parser.parse_args(argv)
  if args.max_concurrent < 1 or args.max_upload_mb <= 0:
    parser.error("--max-concurrent must be >= 1 and --max-upload-mb > 0")
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  os.environ.setdefault("GLOG_minloglevel", "2")

  from fakedetect_jax.errors import FakedetectError
  from fakedetect_jax.predict.detector import open_detector
  from fakedetect_jax.serve.server import Service, make_server
  log = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
  try:
    detector = open_detector(args.detector)
    detector.warm_up()
  except FakedetectError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  service = Service(
      detector,
      max_bytes=int(args.max_upload_mb * (1 << 20)),
      max_concurrent=args.max_concurrent,
      log=log)
  try:
    server = make_server(service, args.host, args.port)
  except OSError as e:
    print(f"error: cannot listen on {args.host}:{args.port} ({e.strerror or e})", file=sys.stderr)
    return 2
  host, port = server.server_address[:2]
  # Tests and scripts read this line to find the port (with --port 0).
  print(f"Serving {detector.model_name} detector on http://{host}:{port}/", flush=True)
  try:
    server.serve_forever()
  except KeyboardInterrupt:
    pass
  finally:
    server.server_close()
  return 0


if __name__ == "__main__":
  sys.exit(main())
