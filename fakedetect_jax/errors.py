"""Errors a user can fix. The main job prints their message as one line instead of a trace."""


class FakedetectError(Exception):
  """Base of every error whose message alone tells the user what to change."""


class ConfigError(FakedetectError, ValueError):
  """A config value that cannot work (unknown name, batch not divisible, ...)."""


class DataError(FakedetectError, ValueError):
  """A dataset that cannot be found, prepared or read."""


class DivergedError(FakedetectError):
  """The loss became NaN or infinite; the last good checkpoint is kept."""
