"""Config files: one ml_collections file per model family (and one per fused-detector branch).

A config file defines `get_config(arg=None)`: `arg` is the text after the colon of
`--config=configs/<file>.py:<arg>`, comma-separated key=value pairs parsed by
fakedetect_jax.config_lib.parse_arg. Every file takes `runlocal` (a bool, default false):
`configs/meso4.py:runlocal=true` is the same job shrunk for a quick local check
(config_lib.runlocal: a tiny image size no smaller than the model's min_size, a handful of
steps, batches of 8, frequent logging, evaluation and checkpoints, synthetic_av's `tiny`
config); `python -m fakedetect_jax.studies run ... --tiny` passes it to every run's config.
Without it a config is exactly the same as before runlocal existed (same resolved config, same
config hash).
"""
