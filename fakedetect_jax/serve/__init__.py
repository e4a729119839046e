"""A local web page and JSON API around a trained detector: python -m fakedetect_jax.serve."""
from fakedetect_jax.serve.server import Service, make_server
