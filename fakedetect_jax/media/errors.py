"""Typed errors for one unreadable file, and the warning type for recoverable problems.

Every message is one line that names the file and says what was expected, so a long
dataset build can log it and move on; no raw FFmpeg trace ever reaches the user.
"""
import os


class MediaError(Exception):
  """A single file could not be turned into an example."""

  expected = "a readable video file"

  def __init__(self, path, detail=""):
    self.path = os.fspath(path)
    self.detail = " ".join(str(detail).split())  # always one line
    msg = f"{self.path}: expected {self.expected}"
    if self.detail:
      msg += f" ({self.detail})"
    super().__init__(msg)

  def __reduce__(self):
    # Default pickling calls __init__(msg) and would double the prefix; process pools need this.
    return (type(self), (self.path, self.detail))


class MissingFileError(MediaError):
  expected = "an existing file"


class EmptyFileError(MediaError):
  expected = "a non-empty video file, found 0 bytes"


class NotAVideoError(MediaError):
  expected = "a media container FFmpeg can open"


class NoVideoStreamError(MediaError):
  expected = "a video stream in the container"


class TruncatedVideoError(MediaError):
  expected = "decodable video frames (file is truncated or corrupt)"


class AudioError(MediaError):
  """The audio track exists but cannot be read; the encoder turns it into a warning."""

  expected = "a decodable audio track"


class NoFaceError(MediaError):
  """Raised only when MediaConfig.require_face is set; otherwise no face is a warning."""

  expected = "at least one detectable face"


class MediaWarning(UserWarning):
  """A recoverable problem in one file (corrupt frames, unreadable audio, no face)."""
