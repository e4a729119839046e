"""Late fusion of branch scores into one fake probability per video.

Each branch (spatial, temporal, lip-sync, audio, ...) gives a fake probability per video, or
nothing when it has no input (no audio track, no face): such a branch is *masked*. Baselines
average or take the max over the present branches; learned fusions (logistic regression, a small
MLP) see each branch's logit where present plus a presence indicator, so a missing branch moves
the decision by a learned amount instead of pretending to be a score of 0.5. Extra per-video
features (e.g. `blink_features`) can be appended.
"""
from fakedetect_jax.fusion.blink import blink_features
from fakedetect_jax.fusion.combine import METHODS, Fusion
from fakedetect_jax.fusion.detector import FusedDetector, load_detector, save_detector

__all__ = ["METHODS", "Fusion", "FusedDetector", "blink_features", "load_detector", "save_detector"]
