"""Latest and best-on-validation checkpoints with orbax.

Orbax writes each checkpoint to a temporary folder and renames it when complete, so a run killed
at any moment (kill -9 included) resumes from the last complete one.
"""
import json
import os

import jax
import orbax.checkpoint as ocp


class Checkpoints:

  def __init__(self, workdir):
    root = os.path.abspath(os.path.join(workdir, "checkpoints"))
    self.latest = ocp.CheckpointManager(
        os.path.join(root, "latest"),
        options=ocp.CheckpointManagerOptions(max_to_keep=1, create=True))
    self.best = ocp.CheckpointManager(
        os.path.join(root, "best"),
        options=ocp.CheckpointManagerOptions(max_to_keep=1, create=True))
    self._best_file = os.path.join(root, "best.json")

  def latest_step(self):
    return self.latest.latest_step()

  def best_info(self):
    """{'step', 'score', 'metric'} of the best checkpoint, or None before the first one."""
    step = self.best.latest_step()
    if step is None or not os.path.exists(self._best_file):
      return None
    with open(self._best_file) as f:
      info = json.load(f)
    return info if info["step"] == step else None

  def save_latest(self, state):
    self.latest.save(int(state.step), args=ocp.args.StandardSave(state))
    self.latest.wait_until_finished()

  def maybe_save_best(self, state, score, metric):
    """Saves state as best when score is at least the best so far.

    score is a list compared in order (the selection metric, then tie-breakers); a full tie
    goes to the later state, which has trained longer (e.g. settled batch-norm statistics).
    """
    info = self.best_info()
    if info is not None and list(score) < list(info["score"]):
      return False
    step = int(state.step)
    if step not in self.best.all_steps():  # a resumed run may re-reach a step it saved
      self.best.save(step, args=ocp.args.StandardSave(state))
      self.best.wait_until_finished()
    if jax.process_index() == 0:
      tmp = self._best_file + ".tmp"
      with open(tmp, "w") as f:
        json.dump({"step": step, "score": score, "metric": metric}, f)
      os.replace(tmp, self._best_file)
    return True

  def restore(self, manager, state, step=None):
    """Restores into the structure, shapes and shardings of `state`."""
    step = manager.latest_step() if step is None else step
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
    return manager.restore(step, args=ocp.args.StandardRestore(abstract))

  def close(self):
    self.latest.close()
    self.best.close()
