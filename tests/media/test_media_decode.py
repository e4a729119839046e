"""Decoding: metadata, sampling policies (read back from pixels), VFR, rotation, odd sizes."""
import numpy as np
import pytest

from fakedetect_jax.media import MediaConfig, decode, probe, sample_indices, write_video
from media_testlib import index_frames, read_index, store_rotated
from media_testlib import media_dir  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def videos(media_dir):
  out = {}
  frames = index_frames(60)
  out["cfr"] = str(media_dir / "index_cfr.mp4")
  write_video(out["cfr"], frames, fps=30, gop=12)
  # Variable frame rate: gaps between 20 and 90 ms.
  rng = np.random.default_rng(3)
  out["vfr_times"] = np.round(np.cumsum(np.r_[0, rng.uniform(0.02, 0.09, 39)]), 4)
  out["vfr"] = str(media_dir / "index_vfr.mp4")
  write_video(out["vfr"], frames[:40], fps=30, timestamps=out["vfr_times"])
  # Portrait phone video: landscape coded frames + a 90 degree display rotation.
  out["rot"] = str(media_dir / "index_rot.mp4")
  upright = index_frames(20, h=128, w=96)
  write_video(out["rot"], store_rotated(upright, 90), fps=25, rotation=90)
  out["rot270"] = str(media_dir / "index_rot270.mp4")
  write_video(out["rot270"], store_rotated(upright, -90), fps=25, rotation=-90)
  out["odd"] = str(media_dir / "index_odd.mp4")
  write_video(out["odd"], index_frames(10, h=99, w=131), fps=25)
  out["short"] = str(media_dir / "index_short.mp4")
  write_video(out["short"], frames[:5], fps=25)
  return out


def decoded_indices(path, indices):
  """(reported index, index read from the pixels, slots) for each yielded frame."""
  info = probe(path)
  out = []
  for slots, i, _, frame in decode.decode_frames(info, indices):
    out.append((i, read_index(decode.to_rgb(frame, info.rotation)), slots))
  return out


def test_metadata(videos):
  info = probe(videos["cfr"])
  assert (info.num_frames, info.width, info.height, info.rotation) == (60, 128, 96, 0)
  assert info.fps == pytest.approx(30.0)
  assert info.duration == pytest.approx(2.0)
  assert not info.has_audio


@pytest.mark.parametrize("sampling,kw", [("even", {}), ("stride", dict(stride=3, start_frame=5)),
                                         ("clips", dict(clip_len=4))])
def test_sampled_frames_are_the_reported_ones(videos, sampling, kw):
  cfg = MediaConfig(num_frames=12, sampling=sampling, **kw)
  idx, padded = sample_indices(60, cfg)
  assert not padded and len(idx) == 12 and np.all(np.diff(idx) >= 0)
  got = decoded_indices(videos["cfr"], idx)
  assert [g[0] for g in got] == list(idx)
  assert [g[1] for g in got] == list(idx)  # the pixels say the same frame


def test_sampling_policies():
  even, _ = sample_indices(300, MediaConfig(num_frames=32))
  assert len(set(even)) == 32 and even[0] < 10 and even[-1] > 290
  gaps = np.diff(even)
  assert gaps.min() >= 9 and gaps.max() <= 10
  stride, _ = sample_indices(300, MediaConfig(num_frames=4, sampling="stride", stride=5))
  assert list(stride) == [0, 5, 10, 15]
  clips, _ = sample_indices(300, MediaConfig(num_frames=8, sampling="clips", clip_len=4))
  assert list(clips[:4]) == list(range(clips[0], clips[0] + 4))
  assert list(clips[4:]) == list(range(clips[4], clips[4] + 4)) and clips[4] > clips[3]


def test_short_video_repeats_and_flags(videos):
  cfg = MediaConfig(num_frames=8)
  idx, padded = sample_indices(probe(videos["short"]).num_frames, cfg)
  assert padded and len(idx) == 8 and set(idx) == set(range(5))
  got = decoded_indices(videos["short"], idx)
  assert sorted(s for g in got for s in g[2]) == list(range(8))
  assert all(g[0] == g[1] for g in got)


def test_variable_frame_rate(videos):
  info = probe(videos["vfr"])
  times = videos["vfr_times"]
  assert info.num_frames == 40
  assert info.fps == pytest.approx(40 / info.duration)
  idx, _ = sample_indices(40, MediaConfig(num_frames=10))
  for slots, i, seconds, frame in decode.decode_frames(info, idx):
    assert read_index(decode.to_rgb(frame, 0)) == i
    assert seconds == pytest.approx(times[i], abs=1e-3)


@pytest.mark.parametrize("key,rotation", [("rot", 90), ("rot270", -90)])
def test_rotation_metadata_gives_upright_portrait_frames(videos, key, rotation):
  info = probe(videos[key])
  assert (info.width, info.height, info.rotation) == (96, 128, rotation)
  got = decoded_indices(videos[key], [0, 7, 19])
  assert [g[1] for g in got] == [0, 7, 19]  # the code is only readable when upright


def test_odd_size(videos):
  info = probe(videos["odd"])
  assert (info.width, info.height) == (131, 99)
  got = decoded_indices(videos["odd"], [0, 3, 9])
  assert [g[1] for g in got] == [0, 3, 9]


def test_skipping_unneeded_frames_changes_nothing(videos):
  info = probe(videos["cfr"])
  idx = [3, 17, 18, 40, 59]
  fast = [decode.to_rgb(f, 0) for _, _, _, f in decode.decode_frames(info, idx)]
  with decode.Video(videos["cfr"]) as v:
    full = [decode.to_rgb(f, 0) for _, _, _, f in v.frames(idx, skip_unneeded=False)]
  assert all(np.array_equal(a, b) for a, b in zip(fast, full))


@pytest.mark.parametrize("fmt,ext,codec", [("matroska", "mkv", "libx264"),
                                           ("webm", "webm", "libvpx-vp9"), ("avi", "avi", "mpeg4"),
                                           ("h264", "h264", "libx264")])  # raw: no timestamps
def test_other_containers(media_dir, fmt, ext, codec):
  import fractions

  import av
  path = str(media_dir / f"index.{ext}")
  with av.open(path, "w", format=fmt) as out:
    s = out.add_stream(codec, rate=25)
    s.width, s.height, s.pix_fmt = 128, 96, "yuv420p"
    for i, img in enumerate(index_frames(30)):
      f = av.VideoFrame.from_ndarray(img, format="rgb24")
      f.pts, f.time_base = i, fractions.Fraction(1, 25)
      out.mux(s.encode(f))
    out.mux(s.encode(None))
  info = probe(path)
  assert info.num_frames == 30 and info.fps == pytest.approx(25.0)
  got = [(i, read_index(decode.to_rgb(f, 0)), t)
         for _, i, t, f in decode.decode_frames(info, [0, 5, 17, 29])]
  assert [(g[0], g[1]) for g in got] == [(0, 0), (5, 5), (17, 17), (29, 29)]
  np.testing.assert_allclose([g[2] for g in got], [0, 0.2, 0.68, 1.16], atol=1e-6)


def test_config_is_frozen_and_validated():
  cfg = MediaConfig()
  assert (cfg.num_frames, cfg.face_size, cfg.mouth_size, cfg.sampling) == (32, 256, 88, "even")
  with pytest.raises(Exception):
    cfg.num_frames = 8
  assert hash(cfg) == hash(MediaConfig())
  for bad in (dict(sampling="random"), dict(no_face="drop"), dict(num_frames=0),
              dict(sampling="clips", num_frames=10, clip_len=4)):
    with pytest.raises(ValueError):
      MediaConfig(**bad)


def _yuv_frame(h, w, colorspace=None, color_range=None, seed=0):
  import av
  rgb = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
  frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
  if colorspace is not None:
    frame.colorspace, frame.color_range = colorspace, color_range
  return frame


@pytest.mark.parametrize("rotation", [0, 90, 180, -90])
def test_rgb_region_equals_a_slice_of_the_whole_frame(videos, rotation):
  # The encoder converts only the face patch of each frame: it must be the very pixels a
  # whole-frame conversion gives, for any bounds (odd ones included) and display rotation.
  frames = []
  for key in ("cfr", "odd"):
    with decode.Video(videos[key]) as v:
      frames += [f for _, _, _, f in v.frames([2, 7])]
  frames += [_yuv_frame(90, 160, 1, 2), _yuv_frame(64, 48, 5, 1)]  # BT.709 full range, BT.601
  rng = np.random.default_rng(0)
  for frame in frames:
    full = decode.to_rgb(frame, rotation)
    h, w = full.shape[:2]
    assert decode.upright_size(frame, rotation) == (w, h)
    for _ in range(25):
      x0, y0 = int(rng.integers(0, w - 1)), int(rng.integers(0, h - 1))
      x1, y1 = int(rng.integers(x0 + 1, w + 1)), int(rng.integers(y0 + 1, h + 1))
      np.testing.assert_array_equal(
          decode.rgb_region(frame, rotation, x0, y0, x1, y1),
          full[y0:y1, x0:x1],
          err_msg=str((x0, y0, x1, y1)))
