"""The dense media setting (every frame, anchors + interpolation) and segments -> frame labels.

References are independent of the encoder: PyAV's own decode of the file (frame count, times,
pixels via swscale), the known placement of the face in the generated frames, media/audio's
log-mel of the whole track, and hand-computed labels.
"""
import av
import numpy as np
import pytest

from fakedetect_jax.input import views
from fakedetect_jax.media import (MediaConfig, audio, crop, decode, encode_video_with_report,
                                  example_features, example_spec, segments, write_video)
from fakedetect_jax.media import encoder
from fakedetect_jax.media.config import DENSE
from media_testlib import background, iou, ncc, place_astronaut, store_rotated
from media_testlib import media_dir  # noqa: F401 (fixture)

FPS, N = 25, 40
SR = 16000


def speech_like(seconds, start=0.0, seed=0):
  """Noise bursts (4 Hz syllables) from `start` s on, silence before."""
  t = np.arange(int(seconds * SR)) / SR
  rng = np.random.default_rng(seed)
  y = 0.3 * rng.standard_normal(len(t)) * (np.sin(2 * np.pi * 4 * t) > 0)
  y[t < start] = 0.0
  return y.astype(np.float32)


def talking_clip(n=N, face_from=0, h=240, w=320):
  """A close-up talking head, as the localization datasets have (the face ~30% of the width,
    BlazeFace's short-range case): the astronaut drifting right and growing over a background.
    Returns frames and the known face boxes (NaN before face_from)."""
  bg = background(h, w)
  frames, boxes = [], np.full((n, 4), np.nan)
  for i in range(n):
    if i < face_from:
      frames.append(bg.copy())
      continue
    f, boxes[i], _ = place_astronaut(bg, 0.9 + 0.2 * i / n, -120 + 40 * i // n, -40 + 10 * i // n)
    frames.append(f)
  return np.stack(frames), boxes


@pytest.fixture(scope="module")
def moving(media_dir):
  """40 frames, 25 fps: the astronaut drifting right and growing (known face boxes), speech."""
  frames, boxes = talking_clip()
  path = str(media_dir / "dense_moving.mp4")
  write_video(path, frames, fps=FPS, audio=speech_like(N / FPS), sample_rate=SR)
  return path, boxes


@pytest.fixture(scope="module")
def dense_example(moving):
  return encode_video_with_report(moving[0], DENSE.replace(detect_every=16))


def _decoded(path, rotation=0):
  """(times, upright RGB frames) of every frame PyAV decodes, swscale's conversion."""
  times, rgb = [], []
  with av.open(path) as container:
    for frame in container.decode(video=0):
      times.append(float(frame.pts * frame.time_base))
      rgb.append(decode.to_rgb(frame, rotation))
  return np.asarray(times) - times[0], rgb


def _reference_crop(rgb, box, size, scale=1.3):
  centre = (box[:2] + box[2:]) / 2
  side = scale * max(box[2] - box[0], box[3] - box[1])
  return crop.warp(crop.Patch(rgb, 0.0, 0.0, 1.0), centre, side, 0.0, size).astype(int)


def test_preset_and_default_unchanged():
  assert (DENSE.sampling, DENSE.face_size, DENSE.mouth_size, DENSE.audio_window) == ("dense", 96,
                                                                                     48, 4)
  default = MediaConfig()  # unchanged by the dense fields
  assert (default.num_frames, default.sampling, default.face_size, default.audio_window,
          default.detector) == (32, "even", 256, 20, "mediapipe_full")
  assert MediaConfig.dense(face_size=64).face_size == 64
  assert example_spec(DENSE)["frames"][0] == (None, 96, 96, 3)
  assert example_spec(MediaConfig())["frames"][0] == (32, 256, 256, 3)
  for bad in (dict(protocol="deepfakebench"), dict(no_face="skip"), dict(detect_every=0)):
    with pytest.raises(ValueError):
      MediaConfig.dense(**bad)


def test_every_decodable_frame_at_its_own_time(moving, dense_example):
  ex, report = dense_example
  times, rgb = _decoded(moving[0])
  assert len(ex["frames"]) == len(times) == N and not report.warnings
  np.testing.assert_array_equal(ex["frame_indices"], np.arange(N))
  np.testing.assert_allclose(ex["timestamps"], times, atol=1e-6)
  spec = example_spec(DENSE)
  for key, (shape, dtype) in spec.items():
    assert ex[key].dtype == dtype and ex[key].shape[1:] == shape[1:], key
  # Fewer detector runs than frames: anchors every 16 frames (+ where the face moved).
  assert 3 <= report.counts["detections"] < N


def test_crops_are_each_frames_own_pixels(moving, dense_example):
  """Each face crop is cut from its own frame: against the same square cut from PyAV's RGB
    conversion of that frame, it differs by the colour conversion's rounding only, and less
    than from the neighbouring frames' pixels."""
  ex, _ = dense_example
  _, rgb = _decoded(moving[0])
  for t in range(N):
    own = np.abs(ex["frames"][t] - _reference_crop(rgb[t], ex["boxes"][t], 96)).mean()
    assert own < 2.5, (t, own)
    for u in (t - 1, t + 1):
      if 0 <= u < N:
        assert own < np.abs(ex["frames"][t] - _reference_crop(rgb[u], ex["boxes"][t], 96)).mean()


def test_interpolated_boxes_follow_the_moving_face(moving, dense_example):
  """Between anchors the boxes stay on the face: against the detector run on every frame, and
    against where the face was drawn."""
  ex, _ = dense_example
  path, truth = moving
  every, _ = encode_video_with_report(path, DENSE.replace(detect_every=1, refine_motion=0))
  assert ex["face_found"].all() and ex["mouth_found"].all()
  for t in range(N):  # every frame, anchors and interpolated ones alike
    assert iou(ex["boxes"][t], every["boxes"][t]) > 0.85, (t, ex["boxes"][t], every["boxes"][t])
    assert iou(ex["boxes"][t], truth[t]) > 0.7, (t, ex["boxes"][t], truth[t])
  # Landmarks and eye aspect ratio are measured on mesh anchors only.
  measured = ~np.isnan(ex["face_landmarks"][:, 0, 0].astype(np.float32))
  assert measured[0] and measured[-1] and measured.sum() < N
  assert (ex["eye_aspect_ratio"][measured] > 0).all() and (ex["eye_aspect_ratio"][~measured]
                                                           == 0).all()


def test_mouth_crop_sits_on_the_mouth_box(moving, dense_example):
  """The mouth crop (cut from the face crop) shows the frame's pixels inside mouth_boxes (up to
    the face crop's resolution: compared by correlation)."""
  ex, _ = dense_example
  _, rgb = _decoded(moving[0])
  import cv2
  for t in range(0, N, 7):
    mb = ex["mouth_boxes"][t]
    ref = crop.warp(
        crop.Patch(rgb[t], 0.0, 0.0, 1.0), (mb[:2] + mb[2:]) / 2, mb[2] - mb[0], 0.0, 48)
    assert ncc(ex["mouth"][t], cv2.cvtColor(ref, cv2.COLOR_RGB2GRAY)) > 0.9, t


def test_mel_slots_concatenate_to_the_continuous_stream(moving, dense_example):
  """The W = 4 slots of consecutive frames, laid end to end, are log-mel frames k0, k0+1, ...
    of the whole track: no gap, no repeat, aligned to the first frame's time."""
  ex, _ = dense_example
  cfg = DENSE
  track = audio.read_audio(moving[0], SR)
  mel = audio.log_mel(track.samples, cfg)
  hop = cfg.hop_length / cfg.sample_rate
  w = cfg.audio_window
  assert w * hop == pytest.approx(1 / FPS)
  k0 = int(round((ex["timestamps"][0] - track.start) / hop)) - w // 2
  k = k0 + np.arange(N * w)
  inside = (k >= 0) & (k < len(mel))
  got = ex["audio"].reshape(N * w, cfg.n_mels)
  np.testing.assert_array_equal(ex["audio_valid"].reshape(-1), inside)
  np.testing.assert_allclose(got[inside], mel[k[inside]], atol=2e-3)
  assert ex["has_audio"] and inside.mean() > 0.9


def test_features_store_a_variable_time_dimension(dense_example):
  ex, _ = dense_example
  feats = example_features(DENSE)
  assert feats["frames"].shape[0] is None and feats["audio"].shape == (None, 4, 80)
  back = feats.deserialize_example_np(feats.serialize_example(ex))
  for key, value in ex.items():
    got = np.asarray(back[key])
    if key == "frames":
      assert got.shape == value.shape and np.abs(got.astype(int) - value).mean() < 3
    else:
      np.testing.assert_array_equal(got.astype(value.dtype), value, err_msg=key)


def test_face_appearing_midway_is_located_by_refinement(media_dir):
  """No face in frames 0-18: bisecting between the anchors finds where it appears; the frames
    before get the first face's box (carry) or black crops (mark)."""
  frames, boxes = talking_clip(face_from=19)
  path = str(media_dir / "dense_appearing.mp4")
  write_video(path, frames, fps=FPS)
  ex, report = encode_video_with_report(path, DENSE.replace(detect_every=32))
  found = ex["face_found"]
  assert not found[:18].any() and found[20:].all(), found.astype(int)
  assert not ex["has_audio"] and not ex["audio_valid"].any()
  assert report.counts["no_face_frames"] == int((~found).sum())
  assert np.isfinite(ex["boxes"]).all()  # carried from the first face seen
  marked, _ = encode_video_with_report(path, DENSE.replace(detect_every=32, no_face="mark"))
  assert (marked["frames"][~marked["face_found"]] == 0).all()
  assert np.isnan(marked["boxes"][~marked["face_found"]]).all()


@pytest.mark.parametrize("rotation", [90, 180, -90])
def test_rotated_video_crops_the_upright_face(media_dir, rotation):
  frames, boxes = talking_clip(n=12)
  path = str(media_dir / f"dense_rot{rotation}.mp4")
  write_video(path, store_rotated(frames, rotation), fps=FPS, rotation=rotation)
  ex, _ = encode_video_with_report(path, DENSE.replace(detect_every=6))
  _, rgb = _decoded(path, rotation)
  assert len(ex["frames"]) == 12 and ex["face_found"].all()
  assert tuple(ex["source_size"]) == (240, 320)
  for t in range(12):
    assert iou(ex["boxes"][t], boxes[t]) > 0.8, t
    assert np.abs(ex["frames"][t] - _reference_crop(rgb[t], ex["boxes"][t], 96)).mean() < 2.5


@pytest.mark.parametrize("colorspace, color_range", [(2, 0), (1, 1), (1, 2), (6, 1), (9, 1)])
def test_yuv_crop_matches_swscale_for_each_colour_standard(colorspace, color_range):
  """_warp converts only the crop, with the frame's own matrix and range, as swscale does for
    the whole frame (rounding aside)."""
  import cv2
  rng = np.random.default_rng(colorspace)
  small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
  rgb = cv2.resize(small, (160, 120), interpolation=cv2.INTER_CUBIC)
  frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
  frame.colorspace, frame.color_range = colorspace, color_range
  full = decode.to_rgb(frame, 0)
  m = crop.crop_matrix((70.0, 55.0), 80.0, 0.3, 64)
  got = encoder._warp(encoder._Pixels(frame, 0, None), m, 64, 64)
  want = crop.warp_matrix(crop.Patch(full, 0.0, 0.0, 1.0), m, 64)
  assert np.abs(got.astype(int) - want).mean() < 2.5  # a wrong matrix or range: 6 and more


def test_leading_silence_trim_works_on_dense_examples(media_dir):
  """input/views.trim_leading_silence reads timestamps and audio_valid: on a dense example the
    first kept frame is the one where the sound starts."""
  frames, _ = talking_clip()
  path = str(media_dir / "dense_silence.mp4")
  write_video(path, frames, fps=FPS, audio=speech_like(N / FPS, start=0.5), sample_rate=SR)
  ex, _ = encode_video_with_report(path, DENSE.replace(detect_every=32))
  onset = views.audio_onset(ex, DENSE.hop_seconds)
  assert 0.48 <= onset <= 0.52  # the first burst after 0.5 s of silence
  trimmed = views.trim_leading_silence(ex, DENSE.hop_seconds)
  first = int(np.argmax(ex["timestamps"] >= onset - DENSE.hop_seconds / 2))
  np.testing.assert_array_equal(trimmed["frame_indices"][:N - first], np.arange(first, N))
  np.testing.assert_array_equal(trimmed["audio"][:N - first], ex["audio"][first:])


# ---------------------------------------------------------------------------- segments


def test_frame_labels_by_hand():
  # frame t covers [t / 25, (t + 1) / 25); fake when its centre (t + 0.5) / 25 is in [s, e)
  labels = segments.frame_labels([[0.10, 0.30], [0.50, 0.55]], n_frames=16, fps=25)
  want = np.zeros(16, np.int8)
  want[[2, 3, 4, 5, 6]] = 1  # centres 0.10 .. 0.26; 0.30 itself is not in [0.10, 0.30)
  want[[12, 13]] = 1  # centres 0.50 (a start is inside) and 0.54; 0.58 is past 0.55
  np.testing.assert_array_equal(labels, want)
  assert labels.dtype == np.int8
  # Timestamps (float32, as stored) give the same; a variable rate uses each frame's own span.
  ts = (np.arange(16) / 25).astype(np.float32)
  np.testing.assert_array_equal(
      segments.frame_labels([[0.10, 0.30], [0.50, 0.55]], ts, fps=25), want)
  vfr = np.array([0.0, 0.1, 0.15, 0.4])  # centres 0.05, 0.125, 0.275, 0.42 (last lasts 0.04)
  np.testing.assert_array_equal(segments.frame_labels([[0.1, 0.3]], vfr, fps=25), [0, 1, 1, 0])
  assert segments.frame_labels([], n_frames=5, fps=25).tolist() == [0] * 5


def test_check_segments_clips_small_overshoot_and_rejects_the_impossible():
  clipped = segments.check_segments([[1.0, 3.204], [0.2, 0.5]], 3.2, "train/1.mp4")
  np.testing.assert_allclose(clipped, [[0.2, 0.5], [1.0, 3.2]])
  assert clipped.dtype == np.float32
  assert segments.check_segments([], 3.2, "x").shape == (0, 2)
  for bad, words in (([[1.0, 3.5]], "past the video's end (3.200 s) by 0.300 s"),
                     ([[2.0, 1.0]], "empty or reversed"), ([[-0.5, 1.0]], "starts before"),
                     ([[1.0, np.inf]], "not finite"), ("oops", "not [[start_s, end_s]")):
    with pytest.raises(segments.SegmentError) as err:
      segments.check_segments(bad, 3.2, "train/1.mp4")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("train/1.mp4: ") and words in msg, msg


def test_segments_from_labels_inverts_frame_labels():
  rng = np.random.default_rng(0)
  for _ in range(20):
    labels = (rng.random(50) < 0.3).astype(np.int8)
    segs = segments.segments_from_labels(labels, fps=25)
    np.testing.assert_array_equal(segments.frame_labels(segs, n_frames=50, fps=25), labels)
  np.testing.assert_allclose(
      segments.union([[0.0, 0.2], [0.5, 0.7]], [[0.1, 0.3], [0.7, 0.8]]), [[0, 0.3], [0.5, 0.8]])
