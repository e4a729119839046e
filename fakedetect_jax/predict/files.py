"""Which files a predict command line names: files as given, folders searched recursively."""
import os


def find_files(inputs, extensions):
  """Files named as given (a missing or bad one is reported later, by whoever reads it, with its
  name); folders: their files with one of `extensions` (lower case, with the dot), sorted,
  recursively, hidden ones skipped."""
  out = []
  for item in inputs:
    if os.path.isdir(item):
      for root, dirs, files in os.walk(item):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out += [
            os.path.join(root, f)
            for f in sorted(files)
            if not f.startswith(".") and os.path.splitext(f)[1].lower() in extensions
        ]
    else:
      out.append(item)
  return out
