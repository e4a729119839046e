"""python -m fakedetect_jax.predict VIDEO_OR_FOLDER... --detector=RUN_DIR [--format table|json|csv]
                                 [--explain OUT_DIR]
python -m fakedetect_jax.predict --crops IMAGE_OR_FOLDER... --detector=RUN_DIR [--format ...]
python -m fakedetect_jax.predict --sample OUT.mp4 [--fake]

Points a trained detector (the --workdir of python -m fakedetect_jax.main, or a fused detector
saved by experiments/studies/synthetic_fusion.py) at videos and prints,
per video, the verdict, the fake probability and the threshold it is compared with, each branch's
score, per-frame scores, faces found and warnings. Folders are searched recursively for video
files; one unreadable file is reported and the rest go on. --explain writes, per video, a contact
sheet of the sampled faces with Grad-CAM heatmaps and a plot of the per-frame scores.
--crops scores face crops given as images (each PNG/JPEG one frame, no face detection; resized
and normalised as the detector expects; predict/crops.py), e.g. DeepfakeBench's prepared
frames; json gives each image's row with its `file` and `fake_probability`.
--sample writes a generated talking-face video to try it on.

Exit 0 when every file was read; 2 when any could not be (or the detector cannot be loaded).
"""
import argparse
import contextlib
import csv
import json
import os
import sys

VIDEO_EXTENSIONS = {
    ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ts",
    ".mts"
}


def find_videos(inputs):
  """Files named on the command line as given; folders: their video files, sorted, recursively."""
  from fakedetect_jax.predict.files import find_files
  return find_files(inputs, VIDEO_EXTENSIONS)


@contextlib.contextmanager
def quiet_native_logs():
  """mediapipe, TFLite and XLA log from C++ to fd 2: point fd 2 at /dev/null for the run and
  give back a file on the real stderr for our own messages and the progress bar."""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  os.environ.setdefault("GLOG_minloglevel", "2")
  sys.stderr.flush()
  saved = os.dup(2)
  real = os.fdopen(saved, "w", buffering=1)
  null = os.open(os.devnull, os.O_WRONLY)
  os.dup2(null, 2)
  os.close(null)
  try:
    yield real
  finally:
    real.flush()
    os.dup2(saved, 2)
    real.close()


def table(results):
  rows = [("file", "verdict", "p(fake)", "threshold", "faces", "notes")]
  for r in results:
    if r["ok"]:
      p = r["fake_probability"]
      rows.append(
          (r["file"], r["verdict"].upper(), "-" if p is None else f"{p:.3f}",
           f"{r['threshold']:.3f}", f"{r['faces_found']}/{r['frames']}", "; ".join(r["warnings"])))
    else:
      rows.append((r["file"], "ERROR", "", "", "", r["error"]))
  widths = [max(len(row[i]) for row in rows) for i in range(5)]
  lines = ["  ".join(c.ljust(w) for c, w in zip(row[:5], widths)) + "  " + row[5] for row in rows]
  # A localization run's fake segments, under the table (seconds, highest score first).
  for r in results:
    if r["ok"] and "segments" in r:
      segs = ", ".join(f"{g['start']:.2f}-{g['end']:.2f} s {g['modality']} ({g['score']:.2f})"
                       for g in r["segments"])
      lines.append(f"{r['file']}: segments: {segs or 'none'}")
  return "\n".join(l.rstrip() for l in lines) + "\n"


CSV_FIELDS = ("file", "ok", "verdict", "fake_probability", "threshold", "branch_scores",
              "faces_found", "frames", "duration", "frame_scores", "warnings", "error")


def write_csv(results, out):
  w = csv.DictWriter(out, CSV_FIELDS, lineterminator="\n")
  w.writeheader()
  for r in results:
    row = {k: r.get(k, "") for k in CSV_FIELDS}
    if r["ok"]:
      row["branch_scores"] = " ".join(f"{n}={b['score']}" for n, b in r["branches"].items())
      row["frame_scores"] = " ".join(str(s) for s in r["frame_scores"])
      row["warnings"] = "; ".join(r["warnings"])
    w.writerow(row)


def write_explanation(result, extras, out_dir):
  """<out_dir>/<stem>_faces.png and <stem>_scores.png; returns their paths."""
  from fakedetect_jax.predict import clip
  os.makedirs(out_dir, exist_ok=True)
  stem = os.path.splitext(os.path.basename(result["file"]))[0] or "video"
  paths = {
      "contact_sheet": os.path.join(out_dir, f"{stem}_faces.png"),
      "score_plot": os.path.join(out_dir, f"{stem}_scores.png")
  }
  n = 1
  while any(os.path.exists(p) for p in paths.values()):  # same stem in two folders
    n += 1
    paths = {k: p.replace(f"{stem}_", f"{stem}-{n}_") for k, p in paths.items()}
  with open(paths["contact_sheet"], "wb") as f:
    f.write(clip.contact_sheet(result, extras["crops"], extras["heat"]))
  with open(paths["score_plot"], "wb") as f:
    f.write(clip.score_plot(result))
  return paths


def main(argv=None):
  parser = argparse.ArgumentParser(
      prog="python -m fakedetect_jax.predict",
      description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("inputs", nargs="*", help="video files and/or folders")
  parser.add_argument("--detector", help="a trained run's workdir or a saved fused detector")
  parser.add_argument("--format", default="table", choices=("table", "json", "csv"))
  parser.add_argument("--explain", metavar="OUT_DIR", help="write heatmap sheets and score plots")
  parser.add_argument("--sample", metavar="OUT.mp4", help="write a generated video and exit")
  parser.add_argument("--fake", action="store_true", help="with --sample: a face-blended fake")
  parser.add_argument(
      "--crops", nargs="+", metavar="FILE_OR_DIR", help="face crops as PNG/JPEG images")
  args = parser.parse_args(argv)

  if args.sample:
    from fakedetect_jax.predict.sample import write_sample
    write_sample(args.sample, fake=args.fake)
    print(args.sample)
    return 0
  if args.crops:
    if args.inputs or not args.detector:
      parser.error("--crops takes the images itself, with --detector=RUN_DIR")
    return _crops(args)
  if not args.inputs or not args.detector:
    parser.error("give videos or folders and --detector=RUN_DIR (or --sample OUT.mp4)")

  with quiet_native_logs() as err:
    import tqdm
    from fakedetect_jax import media
    from fakedetect_jax.errors import FakedetectError
    from fakedetect_jax.predict import clip
    from fakedetect_jax.predict.detector import open_detector
    try:
      detector = open_detector(args.detector)
    except FakedetectError as e:
      print(f"error: {e}", file=err)
      return 2
    files = find_videos(args.inputs)
    if not files:
      print(f"error: no video files in {' '.join(args.inputs)}", file=err)
      return 2
    results = []
    bar = tqdm.tqdm(files, file=err, unit="video", disable=len(files) < 2, leave=False)
    for path in bar:
      bar.set_postfix_str(os.path.basename(path)[-30:])
      try:
        result, extras = clip.analyse(detector, path, explain=bool(args.explain))
        if args.explain:
          result["explanation"] = write_explanation(result, extras, args.explain)
      except media.MediaError as e:
        result = clip.error_result(path, e)
      except Exception as e:  # one odd file must not stop a folder; say what it was
        result = clip.error_result(
            path, f"{path}: could not analyse "
            f"({type(e).__name__}: {' '.join(str(e).split())})")
      results.append(result)
    bar.close()
    for r in results:
      if not r["ok"]:
        print(f"error: {r['error']}", file=err)

  if args.format == "json":
    json.dump(results, sys.stdout, indent=2)
    sys.stdout.write("\n")
  elif args.format == "csv":
    write_csv(results, sys.stdout)
  else:
    sys.stdout.write(table(results))
  return 0 if all(r["ok"] for r in results) else 2


def _crops(args):
  with quiet_native_logs() as err:
    from fakedetect_jax.errors import FakedetectError
    from fakedetect_jax.predict import crops
    from fakedetect_jax.predict.detector import Detector
    try:
      detector = Detector(args.detector)
    except FakedetectError as e:
      print(f"error: {e}", file=err)
      return 2
    files = crops.find_images(args.crops)
    if not files:
      print(f"error: no PNG/JPEG images in {' '.join(args.crops)}", file=err)
      return 2
    rows = crops.score_crops(detector, files)
    for r in rows:
      if not r["ok"]:
        print(f"error: {r['error']}", file=err)
  if args.format == "json":
    json.dump(rows, sys.stdout, indent=2)
    sys.stdout.write("\n")
  elif args.format == "csv":
    w = csv.DictWriter(
        sys.stdout, ("file", "ok", "verdict", "fake_probability", "threshold", "error"),
        lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
  else:
    sys.stdout.write(crops.table(rows))
  return 0 if all(r["ok"] for r in rows) else 2


if __name__ == "__main__":
  sys.exit(main())
