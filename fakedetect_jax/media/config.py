"""MediaConfig: every knob of example encoding, in one frozen (hashable, picklable) dataclass.

Defaults follow the most used protocol (32 evenly spaced frames, face box scaled 1.3x, 256 px),
so examples line up with published tables. `protocol="deepfakebench"` crops faces as
DeepfakeBench's preprocessing does instead (media/align.py): frames at np.linspace(0, n - 1, 32),
dlib's frontal face detector on the full frame, the largest face, a similarity transform of
five key points onto its template with margin `face_scale`, no smoothing over time.

`sampling="dense"` (preset `MediaConfig.dense()` / `DENSE`) keeps every decodable frame at the
source rate, for temporal localization: small face and mouth crops per frame, the face detector
and face mesh on every `detect_every`-th frame only (plus extra frames where the face moves or
appears), boxes and mouth interpolated in between, and per-frame log-mel in `audio_window`
non-overlapping 10 ms slots (4 at 25 fps). The time dimension T then varies per video.
"""
import dataclasses

SAMPLING = ("even", "stride", "clips", "dense")
NO_FACE_POLICIES = ("carry", "skip", "mark")
# default: BlazeFace box track, smoothed square crops. deepfakebench: see the module docstring.
PROTOCOLS = ("default", "deepfakebench")


@dataclasses.dataclass(frozen=True)
class MediaConfig:
  # Frame sampling. even: num_frames spread over the whole video. stride: every `stride`-th
  # frame from `start_frame`. clips: num_frames // clip_len runs of clip_len consecutive frames,
  # the runs spread evenly over the video. dense: every decodable frame (num_frames is ignored).
  num_frames: int = 32
  sampling: str = "even"
  stride: int = 1
  start_frame: int = 0
  clip_len: int = 8

  # Face crop.
  protocol: str = "default"  # see PROTOCOLS; deepfakebench ignores detector, min_face_score,
  # detect_max_side, align_eyes and the box smoothing, and runs the face mesh for its key points
  # even with landmarks=False. Its no-face frames are dropped: no_face="skip" matches that.
  face_size: int = 256
  face_scale: float = 1.3  # crop side = scale * max(box w, box h), centred on the box
  align_eyes: bool = False  # rotate the crop so the eye line is horizontal
  detector: str = "mediapipe_full"  # see faces.DETECTORS
  min_face_score: float = 0.5
  detect_max_side: int = 256  # detection input: frame shrunk to this long side (the
  # full-range model sees 192 px anyway)
  smooth_seconds: float = 0.15  # time scale (Gaussian sigma, s) of box and mouth smoothing;
  # 0 disables
  no_face: str = "carry"  # carry: reuse the nearest box; skip: drop the frame and
  # repeat faced ones; mark: black crop. Always flagged.
  require_face: bool = False  # raise NoFaceError instead of warning when no face at all
  # dense only: the detector and mesh run on every detect_every-th frame (the anchors) and on
  # extra frames halfway between two anchors where the face moved more than refine_motion
  # face sizes, or appeared or vanished, down to consecutive frames (0: no extra frames).
  # Boxes and mouth are interpolated linearly between anchors; smooth_seconds is not used.
  detect_every: int = 1
  refine_motion: float = 0.1

  # Mouth crop and eyes (face mesh on a crop of each detected face).
  landmarks: bool = True
  mouth_size: int = 88
  mouth_scale: float = 1.6  # mouth crop side = scale * distance between mouth corners

  # Audio.
  audio: bool = True
  sample_rate: int = 16000
  n_mels: int = 80
  hop_seconds: float = 0.010
  win_seconds: float = 0.025
  audio_window: int = 20  # W: example "audio" is [T, W, n_mels], slot j of frame t
  # the mel frame centred nearest t + (j - W//2) * hop

  # Stored image format of `frames` in the TFDS features.
  frames_encoding: str = "jpeg"

  def __post_init__(self):
    if self.sampling not in SAMPLING:
      raise ValueError(f"sampling must be one of {SAMPLING}, got {self.sampling!r}")
    if self.protocol not in PROTOCOLS:
      raise ValueError(f"protocol must be one of {PROTOCOLS}, got {self.protocol!r}")
    if self.no_face not in NO_FACE_POLICIES:
      raise ValueError(f"no_face must be one of {NO_FACE_POLICIES}, got {self.no_face!r}")
    if self.num_frames < 1 or self.stride < 1 or self.clip_len < 1:
      raise ValueError("num_frames, stride and clip_len must be >= 1")
    if self.sampling == "clips" and self.num_frames % self.clip_len:
      raise ValueError(f"num_frames ({self.num_frames}) must be a multiple of clip_len "
                       f"({self.clip_len}) with sampling='clips'")
    if self.frames_encoding not in ("jpeg", "png"):
      raise ValueError("frames_encoding must be 'jpeg' or 'png'")
    if self.detect_every < 1 or self.refine_motion < 0:
      raise ValueError("detect_every must be >= 1 and refine_motion >= 0")
    if self.is_dense and self.deepfakebench:
      raise ValueError("sampling='dense' cannot use protocol='deepfakebench' (it aligns each "
                       "frame by its own key points, so needs the mesh on every frame)")
    if self.is_dense and self.no_face == "skip":
      raise ValueError("sampling='dense' keeps every frame: no_face must be 'carry' or 'mark'")

  @classmethod
  def dense(cls, **overrides):
    """The dense setting for temporal localization (LAV-DF, AV-Deepfake1M: 224 px, 25 fps
    talking heads): every frame, 96 px faces, 48 px mouths, 4 mel slots of 10 ms per 40 ms
    frame. BlazeFace's short-range model, made for faces at arm's length, finds these close-up
    faces more often than the full-range one and costs a third. The detector and mesh run once
    a second, plus where the face moves by a quarter of its size: on a moving head the boxes
    then keep an IoU of ~0.93 with a detection on every frame, at a third of the cost
    (experiments/benchmarks/dense.py prints the trade-off)."""
    settings = dict(
        sampling="dense",
        face_size=96,
        mouth_size=48,
        audio_window=4,
        detector="mediapipe_short",
        detect_every=25,
        refine_motion=0.25)
    settings.update(overrides)
    return cls(**settings)

  def replace(self, **kw):
    return dataclasses.replace(self, **kw)

  @property
  def is_dense(self):
    return self.sampling == "dense"

  @property
  def deepfakebench(self):
    return self.protocol == "deepfakebench"

  @property
  def runs_mesh(self):
    """Whether the face mesh runs on the faces: for the mouth and eyes, or for the key points."""
    return self.landmarks or self.deepfakebench

  @property
  def hop_length(self):
    return int(round(self.hop_seconds * self.sample_rate))


DENSE = MediaConfig.dense()
