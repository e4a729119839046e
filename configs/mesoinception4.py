"""MesoInception-4 (Afchar et al. 2018): Meso4 with inception modules in its first two blocks.

python -m fakedetect_jax.main --config=configs/mesoinception4.py:dataset=synthetic_av --workdir=runs/mi4
Same arguments as configs/meso4.py.
"""
import importlib.util
import pathlib

_spec = importlib.util.spec_from_file_location("meso4_config",
                                               pathlib.Path(__file__).with_name("meso4.py"))
_meso4 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_meso4)


def get_config(arg=None):
  arg = "model=mesoinception4" + ("," + arg if arg else "")
  return _meso4.get_config(arg)
