"""MediaConfig: every knob of example encoding, in one frozen (hashable, picklable) dataclass.

Defaults follow the most used protocol (32 evenly spaced frames, face box scaled 1.3x, 256 px),
so examples line up with published tables. `protocol="deepfakebench"` crops faces as
DeepfakeBench's preprocessing does instead (media/align.py): frames at np.linspace(0, n - 1, 32),
dlib's frontal face detector on the full frame, the largest face, a similarity transform of
five key points onto its template with margin `face_scale`, no smoothing over time.
"""
import dataclasses

SAMPLING = ("even", "stride", "clips")
NO_FACE_POLICIES = ("carry", "skip", "mark")
# default: BlazeFace box track, smoothed square crops. deepfakebench: see the module docstring.
PROTOCOLS = ("default", "deepfakebench")


@dataclasses.dataclass(frozen=True)
class MediaConfig:
  # Frame sampling. even: num_frames spread over the whole video. stride: every `stride`-th
  # frame from `start_frame`. clips: num_frames // clip_len runs of clip_len consecutive frames,
  # the runs spread evenly over the video.
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

  def replace(self, **kw):
    return dataclasses.replace(self, **kw)

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
