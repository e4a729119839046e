"""Bad input: typed one-line errors for unreadable files, counted warnings for damaged ones,
and a batch helper that skips failures without losing finished work."""
import pickle
import warnings

import av
import numpy as np
import pytest

from fakedetect_jax import media
from fakedetect_jax.media import MediaConfig, encode_video, encode_video_with_report, write_video
from fakedetect_jax.media import __main__ as cli
from media_testlib import astronaut_clip
from real_world import moov_span
from media_testlib import media_dir  # noqa: F401 (fixture)

CFG = MediaConfig(num_frames=8, face_size=64, mouth_size=32)


def packets(path):
  with av.open(path) as c:
    return [(p.stream.type, p.pos, p.size) for p in c.demux() if p.size]


def overwrite(src, dst, spans, seed=0):
  """Copy src to dst with random bytes over each (offset, length)."""
  data = bytearray(open(src, "rb").read())
  rng = np.random.default_rng(seed)
  for off, n in spans:
    data[off:off + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
  open(dst, "wb").write(bytes(data))
  return dst


@pytest.fixture(scope="module")
def files(media_dir):
  d = media_dir / "bad"
  d.mkdir()
  f = {}
  frames, _, _ = astronaut_clip(n=30, h=240, w=320)
  tone = (0.3 * np.sin(np.arange(3 * 16000) * 2 * np.pi * 300 / 16000)).astype(np.float32)
  f["good"] = str(d / "good.mp4")
  write_video(f["good"], frames, fps=10, audio=tone, gop=10)
  f["good_faststart"] = str(d / "good_faststart.mp4")
  write_video(f["good_faststart"], frames, fps=10, audio=tone, gop=10, faststart=True)

  f["empty"] = str(d / "empty.mp4")
  open(f["empty"], "wb").close()
  raw = open(f["good"], "rb").read()
  f["truncated"] = str(d / "truncated.mp4")  # index (moov) at the end: cut off
  open(f["truncated"], "wb").write(raw[:len(raw) // 2])
  fs = open(f["good_faststart"], "rb").read()
  f["truncated_tail"] = str(d / "truncated_tail.mp4")  # index first, data cut at 60%
  open(f["truncated_tail"], "wb").write(fs[:int(len(fs) * 0.6)])
  moov, size = moov_span(f["good_faststart"])
  f["cut_in_moov"] = str(d / "cut_in_moov.mp4")  # the download stopped inside the index
  open(f["cut_in_moov"], "wb").write(fs[:moov + size // 2])
  f["text"] = str(d / "notes.mp4")
  open(f["text"], "w").write("this is not a video\n" * 50)
  f["noise"] = str(d / "noise.mp4")
  open(f["noise"], "wb").write(np.random.default_rng(1).bytes(20000))

  f["audio_only"] = str(d / "audio_only.m4a")
  with av.open(f["audio_only"], "w", format="mp4") as out:
    s = out.add_stream("aac", rate=16000, layout="mono")
    for i in range(0, len(tone), 1024):
      fr = av.AudioFrame.from_ndarray(tone[None, i:i + 1024], format="fltp", layout="mono")
      fr.sample_rate, fr.pts = 16000, i
      out.mux(s.encode(fr))
    out.mux(s.encode(None))

  f["no_face"] = str(d / "no_face.mp4")
  grad = np.zeros((8, 96, 128, 3), np.uint8)
  grad[..., 0] = np.linspace(0, 255, 128)[None, None, :]
  grad[..., 2] = np.arange(8)[:, None, None] * 20
  write_video(f["no_face"], grad, fps=10)

  pk = packets(f["good"])
  video = [(o, n) for t, o, n in pk if t == "video"]
  f["corrupt_middle"] = overwrite(f["good"], str(d / "corrupt_middle.mp4"),
                                  [(o + n // 4, n // 2) for o, n in video[12:17]])
  f["bad_audio"] = overwrite(f["good"], str(d / "bad_audio.mp4"),
                             [(o, n) for t, o, n in pk if t == "audio"])
  return f


@pytest.mark.parametrize("key,error,words", [
    ("empty", media.EmptyFileError, "0 bytes"),
    ("truncated", media.TruncatedVideoError, "truncated"),
    ("cut_in_moov", media.TruncatedVideoError, "truncated"),
    ("text", media.NotAVideoError, "container"),
    ("noise", media.NotAVideoError, "container"),
    ("audio_only", media.NoVideoStreamError, "video stream"),
])
def test_unreadable_files_raise_one_line_typed_errors(files, key, error, words, capsys):
  with pytest.raises(error) as e:
    encode_video(files[key], CFG)
  msg = str(e.value)
  assert isinstance(e.value, media.MediaError)
  assert msg.startswith(files[key] + ": expected") and words in msg and "\n" not in msg
  again = pickle.loads(pickle.dumps(e.value))  # crosses process pools intact
  assert type(again) is error and str(again) == msg
  # The command line: exit 2, that one line on stderr, nothing on stdout.
  assert cli.main([files[key], "--frames", "4"]) == 2
  out, err = capsys.readouterr()
  assert out == "" and err == f"error: {msg}\n"


def test_missing_file(tmp_path):
  with pytest.raises(media.MissingFileError, match="expected an existing file"):
    encode_video(str(tmp_path / "nope.mp4"), CFG)


def test_truncated_tail_keeps_what_decodes(files):
  ex, report = encode_video_with_report(files["truncated_tail"], CFG)
  assert ex["frames"].shape[0] == 8 and ex["face_found"].all()
  assert any("cut short" in w for w in report.warnings) and report.counts["truncated"]
  present = report.info.num_frames
  assert 0 < present < 30
  assert ex["frame_indices"].max() < present  # samples spread over what is there


def test_corrupt_frames_in_the_middle_are_counted(files):
  cfg = CFG.replace(num_frames=30, sampling="stride")
  ex, report = encode_video_with_report(files["corrupt_middle"], cfg)
  assert report.counts["decode_errors"] > 0 and report.counts["missing_frames"] > 0
  assert any("could not be decoded" in w for w in report.warnings)
  # Replacements are real neighbours, reported as such.
  assert np.all(np.diff(ex["frame_indices"]) >= 0) and ex["frame_indices"][-1] == 29
  assert ex["face_found"].all()
  # With frames to spare, each lost one is replaced by a distinct decoded neighbour.
  ex, report = encode_video_with_report(files["corrupt_middle"], CFG)
  lost = set(media.sample_indices(30, CFG)[0]) - set(ex["frame_indices"])
  assert lost and report.counts["missing_frames"] == len(lost)
  assert np.all(np.diff(ex["frame_indices"]) > 0)
  np.testing.assert_allclose(ex["timestamps"], ex["frame_indices"] / 10, atol=1e-6)


def test_unreadable_audio_is_a_warning(files):
  ex, report = encode_video_with_report(files["bad_audio"], CFG)
  assert not ex["has_audio"] and report.counts["audio_unreadable"] == 1
  assert any("audio unreadable" in w for w in report.warnings)
  assert ex["face_found"].all()
  with pytest.warns(media.MediaWarning, match="audio unreadable"):
    encode_video(files["bad_audio"], CFG)


def test_no_face_anywhere(files):
  ex, report = encode_video_with_report(files["no_face"], CFG)
  assert not ex["face_found"].any() and not ex["mouth_found"].any()
  assert (ex["frames"] == 0).all() and np.isnan(ex["boxes"]).all()
  assert report.counts["no_face_frames"] == 8
  assert any("no face in any" in w for w in report.warnings)
  with pytest.raises(media.NoFaceError, match="no_face.mp4: expected at least one"):
    encode_video(files["no_face"], CFG.replace(require_face=True))


def test_encode_many_skips_and_counts_failures(files):
  paths = [
      files["good"], files["empty"], files["no_face"], files["text"], files["cut_in_moov"],
      files["good"], files["noise"]
  ]
  summary = media.BatchSummary()
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    out = list(media.encode_many(paths, CFG, workers=2, progress=False, summary=summary))
  assert [p for p, _ in out] == [files["good"], files["no_face"], files["good"]]  # in order
  assert all(ex["frames"].shape == (8, 64, 64, 3) for _, ex in out)
  assert (summary.total, summary.encoded, len(summary.failed)) == (7, 3, 4)
  bad = [files[k] for k in ("empty", "text", "cut_in_moov", "noise")]
  assert [p for p, _ in summary.failed] == bad
  assert summary.warned == {"no face in any of the N sampled frames": 1}
  lines = [str(w.message) for w in caught if issubclass(w.category, media.MediaWarning)]
  assert lines == [
      "encoded 3 of 7 videos, skipped 4; "
      "warnings (no face in any of the N sampled frames: 1)"
  ]


def test_encode_many_in_process_gives_the_same(files):
  paths = [files["good"], files["noise"]]
  summary = media.BatchSummary()
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    out = list(media.encode_many(paths, CFG, workers=0, progress=True, summary=summary))
  assert len(out) == 1 and len(summary.failed) == 1
