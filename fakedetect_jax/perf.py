"""Speed settings that do not change results: JAX's persistent compilation cache.

Every compiled train/eval step is written to a cache directory keyed by the program, the jax
and XLA versions, the backend and its flags (so 8 simulated devices and 1 real one, or another
XLA_FLAGS, never share an entry); a repeated run, a resume or a CI job loads it instead of
compiling again. Directory: `--jax_cache_dir`, else $FAKEDETECT_JAX_CACHE, else
~/.cache/fakedetect_jax/jax_cache; '' or 'none' turns the cache off.
"""
import os

DEFAULT_CACHE_DIR = os.path.join("~", ".cache", "fakedetect_jax", "jax_cache")
ENV_VAR = "FAKEDETECT_JAX_CACHE"


def cache_dir(flag_value=None):
  """The cache directory to use (None: off) from a flag value, the environment, the default."""
  value = flag_value if flag_value is not None else os.environ.get(ENV_VAR, DEFAULT_CACHE_DIR)
  if value.strip().lower() in ("", "none", "off", "0"):
    return None
  return os.path.abspath(os.path.expanduser(value))


def enable_compilation_cache(flag_value=None, min_compile_secs=1.0):
  """Points JAX's persistent compilation cache at cache_dir(flag_value); returns it (or None).

  Programs that compile in under `min_compile_secs` are not cached (reading them back would
  cost about as much). A directory that cannot be created leaves the cache off, never fails.
  """
  import jax
  path = cache_dir(flag_value)
  if path is None:
    return None
  try:
    os.makedirs(path, exist_ok=True)
  except OSError:
    return None
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", min_compile_secs)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  return path
