"""fakedetect_jax: deepfake video detection from several signals, in JAX/Flax."""
