"""Datasets -> per-branch views -> batches sharded onto the device mesh."""
from fakedetect_jax.input.pipeline import TrainOrder, eval_batches, train_batches
from fakedetect_jax.input.sources import DataError, FrameSource, load_split
from fakedetect_jax.input import views
from fakedetect_jax.input.views import VideoSource
