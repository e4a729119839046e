"""Data-parallel training: one train step, one loop, orbax checkpoints, metric writing."""
from fakedetect_jax.train.loop import train_and_evaluate
