"""Studies: lists of training runs plus evaluations, run and gathered into tables and plots.

See __main__.py for the command line, study.py for what a study file defines.
"""
from fakedetect_jax.studies.study import Eval, Run

__all__ = ["Eval", "Run"]
