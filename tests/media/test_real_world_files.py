"""Real-world files do not break the encoder: edit lists and cut-off files (sampled frames are
distinct and decodable), containers and codecs, variable frame rate, rotation, odd sizes and
audio at every common rate. The material is the real face video and speech of
fakedetect_jax.testing.real_media, re-encoded by real_world.py; decodability is checked against
a plain PyAV decode of the file on disk."""
import json
import os
import subprocess
import sys

import av
import numpy as np
import pytest

import real_world as rw
from fakedetect_jax.media import MediaConfig, audio, decode, encode_video_with_report, probe
from fakedetect_jax.media import __main__ as cli
from media_testlib import iou, ncc

CFG = MediaConfig(num_frames=8, face_size=64, mouth_size=32)
AUDIO_CFG = CFG.replace(sampling="stride", stride=7)  # the first frame is at 0 s


@pytest.fixture(scope="module")
def work(tmp_path_factory):
  return tmp_path_factory.mktemp("real_world")


@pytest.fixture(scope="module")
def face_clip(real_media):
  return rw.clip(real_media)  # 2.5 s, 320x180, 23.976 fps


@pytest.fixture(scope="module")
def speech(real_media, face_clip):
  """The speech track, cut to the clip's length (so audio and video end together)."""
  samples, rate = rw.speech(real_media)
  frames, fps = face_clip
  return samples[:int(len(frames) / fps * rate)], rate


def presented_times(path):
  """Seconds (since the first) of every frame a plain PyAV decode presents."""
  times = []
  with av.open(str(path)) as c:
    for packet in c.demux(video=0):
      try:
        times += [f.time for f in packet.decode()]
      except av.error.InvalidDataError:  # the partial last packet of a cut-off file
        pass
  return np.array(times) - times[0]


def assert_distinct_presented(ex, path):
  idx, times = ex["frame_indices"], ex["timestamps"]
  assert np.all(np.diff(idx) > 0), idx
  ref = presented_times(path)
  assert idx[-1] < len(ref)
  np.testing.assert_allclose(times, ref[idx], atol=1e-3)  # the true frame at its true time


def run_cli(path, capsys):
  assert cli.main([str(path), "--frames", str(CFG.num_frames)]) == 0
  return json.loads(capsys.readouterr().out)


def test_edit_list_frames_are_not_counted(real_media):
  # no_face.mp4: 98 packets, the first three (negative pts) cut by the edit list.
  path = real_media / "videos/no_face.mp4"
  info = probe(path)
  assert info.num_frames == len(presented_times(path)) == 95
  assert info.declared_frames == 95 and info.start_time == 0.0
  ex, report = encode_video_with_report(path, CFG.replace(num_frames=32))
  assert_distinct_presented(ex, path)
  assert report.counts["missing_frames"] == 0
  assert not any("cut short" in w or "could not be decoded" in w for w in report.warnings)


@pytest.mark.parametrize("fraction", [0.3, 0.77])  # both end inside a video packet
def test_cut_off_file_samples_only_frames_that_decode(real_media, work, fraction):
  path = rw.cut(real_media / rw.FACE_VIDEO, work / f"cut_{fraction}.mp4", fraction)
  info = probe(path)
  n = len(presented_times(path))
  assert info.num_frames == n < info.declared_frames == 472
  ex, report = encode_video_with_report(path, CFG.replace(num_frames=16))
  assert_distinct_presented(ex, path)
  assert report.counts["truncated"] == 1 and report.counts["missing_frames"] == 0
  assert any("cut short" in w for w in report.warnings)
  # The last frame that decodes can be asked for, and is given, itself.
  stats = decode.DecodeStats()
  with decode.Video(path) as v:
    got = [i for _, i, _, _ in v.frames([0, n - 2, n - 1], stats)]
  assert got == [0, n - 2, n - 1] and stats.missing == 0


@pytest.mark.parametrize("case", ["avi_mjpeg_pcm", "mkv_h264_aac", "webm_vp9_opus"])
def test_cut_off_files_of_other_containers(written, work, case):
  path = rw.cut(written(case), work / f"cut_{written(case).name}", 0.63)
  info = probe(path)
  # A partial last JPEG still decodes (PyAV presents it); it is not counted, never sampled.
  assert 0 < info.num_frames <= len(presented_times(path)) < 60
  ex, report = encode_video_with_report(path, CFG.replace(num_frames=16))
  assert_distinct_presented(ex, path)
  assert report.counts["missing_frames"] == 0
  if case.startswith("avi"):  # its index counts the frames; Matroska's does not
    assert any("cut short" in w for w in report.warnings)


@pytest.fixture(scope="module")
def written(work, face_clip, speech):
  """Case name -> path of its re-encoding, written on first use."""
  paths = {}

  def get(case):
    if case not in paths:
      name, kw = rw.CASES[case]
      frames, fps = face_clip
      rw.write(work / name, frames, fps, audio=speech[0], audio_rate=speech[1], **kw)
      paths[case] = work / name
    return paths[case]

  return get


@pytest.mark.parametrize("case", list(rw.CASES))
def test_containers_and_codecs(written, face_clip, case, capsys):  # through the CLI
  frames, fps = face_clip
  path = written(case)
  out = run_cli(path, capsys)
  assert out["warnings"] == []
  assert out["frames"] == 8 and np.all(np.diff(out["frame_indices"]) > 0)
  assert out["faces_found"] >= 0.9 * 8 and out["mouth_found"] >= 0.9 * 8
  assert out["has_audio"] and out["audio_seconds"] == pytest.approx(len(frames) / fps, abs=0.03)
  info = probe(path)
  assert info.num_frames == len(frames) == len(presented_times(path))
  assert (info.width, info.height) == (320, 180)


# Codecs with priming (AAC, Opus, Vorbis) start with a packet before 0 s, which seeking back to
# the start skips in mkv, webm and mov: the audio must still start with the video.
@pytest.mark.parametrize(
    "case", ["mkv_h264_aac", "webm_vp9_opus", "webm_vp8_vorbis", "mov_h264_aac", "avi_mjpeg_pcm"])
def test_audio_starts_with_the_video(written, speech, case):
  path = written(case)
  ex, report = encode_video_with_report(path, AUDIO_CFG)
  assert_distinct_presented(ex, path)
  assert_audio_matches(ex, *speech)


def assert_audio_matches(ex, samples, rate):
  """The features are those of `samples` at the encoder's rate, at the frame times, with the
    same windows inside the track (so the track starts with the video), and best matched with
    no shift (one hop is 10 ms)."""
  assert ex["has_audio"] and ex["timestamps"][0] == 0
  mel = audio.log_mel(rw.resample(samples, rate, CFG.sample_rate)[0], CFG)
  hop = CFG.hop_length / CFG.sample_rate
  np.testing.assert_array_equal(ex["audio_valid"],
                                audio.windows(mel, 0.0, ex["timestamps"], CFG)[1])
  corr = []
  for lag in range(-3, 4):
    win, valid = audio.windows(mel, 0.0, ex["timestamps"] + lag * hop, CFG)
    valid &= ex["audio_valid"]
    corr.append(np.corrcoef(win[valid].ravel(), ex["audio"][valid].ravel())[0, 1])
  assert np.argmax(corr) == 3 and corr[3] > 0.9, np.round(corr, 3)


def test_variable_frame_rate(work, face_clip):
  frames, fps = face_clip
  path = work / "vfr_only.mkv"
  times = rw.write(path, frames, fps, vfr=True)
  assert np.ptp(np.diff(times)) > 0.5 / fps  # really uneven
  ex, _ = encode_video_with_report(path, CFG)
  assert_distinct_presented(ex, path)
  np.testing.assert_allclose(ex["timestamps"], times[ex["frame_indices"]], atol=1e-3)


@pytest.fixture(scope="module")
def upright(work, face_clip):
  frames, fps = face_clip
  path = work / "upright.mp4"
  rw.write(path, frames, fps)
  return encode_video_with_report(path, CFG)[0]


@pytest.mark.parametrize(
    "name,kw",
    [
        ("rot90.mp4", dict(rotation=90)),
        ("rot90.mov", dict(rotation=90)),
        ("rot270.mkv", dict(rotation=-90)),
        ("rot180.mp4", dict(rotation=180)),
        ("rotate_tag90.mkv", dict(rotate_tag=90)),  # legacy tag: clockwise, i.e. -90 ccw
    ])
def test_rotation_gives_upright_faces(work, face_clip, upright, name, kw):
  frames, fps = face_clip
  ccw = kw.get("rotation", -kw.get("rotate_tag", 0))
  path = work / name
  rw.write(path, rw.rotate_stored(frames, ccw), fps, **kw)
  info = probe(path)
  assert (info.width, info.height) == (320, 180) and info.rotation % 360 == ccw % 360
  ex, _ = encode_video_with_report(path, CFG)
  np.testing.assert_array_equal(ex["source_size"], [180, 320])
  np.testing.assert_array_equal(ex["frame_indices"], upright["frame_indices"])
  assert ex["face_found"].all() and upright["face_found"].all()
  # The same face at the same place as in the upright file, crops alike.
  assert min(iou(a, b) for a, b in zip(ex["boxes"], upright["boxes"])) > 0.8
  assert min(ncc(a, b) for a, b in zip(ex["frames"], upright["frames"])) > 0.9


@pytest.mark.parametrize(
    "size,name,kw",
    [
        ((321, 241), "odd.mp4", dict(pix_fmt="yuv444p")),  # 4:2:0 H.264 needs even sizes
        ((641, 359), "odd.avi", dict(vcodec="mjpeg")),
    ])
def test_odd_sizes(real_media, work, size, name, kw):
  frames, fps = rw.clip(real_media, size=size, seconds=1.5)
  path = work / name
  rw.write(path, frames, fps, **kw)
  ex, report = encode_video_with_report(path, CFG)
  np.testing.assert_array_equal(ex["source_size"], size[::-1])
  assert_distinct_presented(ex, path)
  assert ex["face_found"].all() and report.warnings == []
  boxes = ex["boxes"]
  assert (boxes[:, :2] >= -1).all() and (boxes[:, 2] <= size[0] + 1).all()
  assert (boxes[:, 3] <= size[1] + 1).all()


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
@pytest.mark.parametrize("layout", ["mono", "stereo"])
def test_audio_rates(real_media, work, face_clip, rate, layout):
  frames, fps = face_clip
  frames = frames[:, ::2, ::2]  # 160x90: only the audio matters here
  seconds = len(frames) / fps
  # Real 8 kHz speech for 8 kHz; the 16 kHz speech resampled for the others.
  samples, src_rate = rw.speech(real_media, rw.SPEECH_8K if rate == 8000 else rw.SPEECH)
  samples = samples[:int(seconds * src_rate)]
  path = work / f"audio_{rate}_{layout}.mp4"
  rw.write(path, frames, fps, audio=samples, audio_rate=src_rate, out_rate=rate, layout=layout)
  with av.open(str(path)) as c:
    assert (c.streams.audio[0].rate, c.streams.audio[0].layout.name) == (rate, layout)
  ex, report = encode_video_with_report(path, AUDIO_CFG)
  assert report.audio_seconds == pytest.approx(seconds, abs=0.03)
  assert_audio_matches(ex, samples, src_rate)


def test_mel_windows_equal_the_whole_spectrogram(real_media):
  # The encoder computes only the mel frames its windows hold (a long track's whole
  # spectrogram would cost hundreds of MB): the same numbers, off the ends too.
  samples, rate = rw.speech(real_media)
  times = np.r_[-0.05, 0.0, 0.013, np.sort(np.random.default_rng(0).uniform(0, 4.2, 29))]
  for start in (0.0, 0.0371):
    want = audio.windows(audio.log_mel(samples, CFG), start, times, CFG)
    got = audio.mel_windows(samples, start, times, CFG)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_allclose(got[0], want[0], atol=1e-4)


def test_mediapipe_comes_without_tensorflow():
  # mediapipe's import would pull in all of TensorFlow (9 s, 830 MB of a worker's 1 GB peak)
  # for its API docs only; the encoder's processes do without it.
  code = ("import sys; from fakedetect_jax.media import faces, landmarks; "
          "faces.make_detector('mediapipe_full', 0.5).close(); landmarks.FaceMesh().close(); "
          "print('tensorflow' in sys.modules)")
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
  out = subprocess.run([sys.executable, "-c", code],
                       env=env,
                       capture_output=True,
                       text=True,
                       timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  assert out.stdout.strip().splitlines()[-1] == "False"
