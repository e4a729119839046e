"""Datasets -> per-branch views -> batches sharded onto the device mesh."""
from fakedetect_jax.input.pipeline import TrainBatches, TrainOrder, eval_batches, train_batches
from fakedetect_jax.input.sources import DataError, Source, load_split, open_split
from fakedetect_jax.input import views
