"""One code style across the tree: yapf with the repository's .style.yapf changes nothing."""
import subprocess
import sys

from conftest import REPO

TREE = ["fakedetect_jax", "datasets", "configs", "experiments", "tests", "setup.py"]


def test_every_python_file_is_formatted_by_the_repository_style():
  proc = subprocess.run(
      [sys.executable, "-m", "yapf", "--diff", "--recursive", "--parallel", *TREE],
      cwd=REPO,
      capture_output=True,
      text=True,
      timeout=600)
  changed = [
      line[4:].split("\t")[0] for line in proc.stdout.splitlines() if line.startswith("--- ")
  ]
  assert proc.returncode == 0 and not changed, (
      f"not in the repository style (run `yapf -i -r -p {' '.join(TREE)}`): {changed}" +
      proc.stderr[-1000:])
