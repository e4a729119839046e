"""Latest and best-on-validation checkpoints with orbax.

Orbax writes each checkpoint to a temporary folder and renames it when complete, so a run killed
at any moment (kill -9 included) resumes from the last complete one.

`restore_best(workdir, state)` is how a finished run's selected state is read back (evaluation,
prediction, fusion): the best checkpoint, else the latest.
"""
import json
import os

import grain
import jax
import orbax.checkpoint as ocp

from fakedetect_jax.errors import FakedetectError


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

  def save_latest(self, state, data_state=None):
    """The newest state, with the input pipeline's (Grain) iterator state of this host, so a
    resumed run continues the same data stream."""
    items = {"state": ocp.args.StandardSave(state)}
    if data_state is not None:
      items["data"] = grain.checkpoint.CheckpointSave(_DataState(data_state))
    self.latest.save(int(state.step), args=ocp.args.Composite(**items))
    self.latest.wait_until_finished()

  def restore_latest(self, state):
    """(state, Grain iterator state or None) of the newest checkpoint."""
    step = self.latest.latest_step()
    step_dir = os.path.join(self.latest.directory, str(step))
    if not os.path.isdir(os.path.join(step_dir, "state")):
      return self.restore(self.latest, state, step), None
    items = {"state": ocp.args.StandardRestore(_abstract(state))}
    holder = _DataState(None)
    if os.path.isdir(os.path.join(step_dir, "data")):
      items["data"] = grain.checkpoint.CheckpointRestore(holder)
    restored = self.latest.restore(step, args=ocp.args.Composite(**items))
    return restored["state"], holder.state

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
    """Restores into the structure, shapes and shardings of `state` (the model state only)."""
    step = manager.latest_step() if step is None else step
    if os.path.isdir(os.path.join(manager.directory, str(step), "state")):
      return manager.restore(
          step, args=ocp.args.Composite(state=ocp.args.StandardRestore(_abstract(state))))["state"]
    return manager.restore(step, args=ocp.args.StandardRestore(_abstract(state)))

  def close(self):
    self.latest.close()
    self.best.close()


class NoCheckpointError(FakedetectError, FileNotFoundError):
  """A workdir with no complete checkpoint (not trained yet, or not a run's workdir)."""


def _steps(directory):
  # Orbax names a complete checkpoint by its step; in-progress ones carry a temporary suffix.
  if not os.path.isdir(directory):
    return []
  return sorted(int(p) for p in os.listdir(directory) if p.isdigit())


def best_or_latest(workdir):
  """('best' | 'latest', step): the checkpoint `restore_best` reads, the one in
  checkpoints/best (best on validation; best.json has its score) or, when the run saved none
  (stopped before its first evaluation), the newest in checkpoints/latest."""
  root = os.path.join(os.path.abspath(workdir), "checkpoints")
  for kind in ("best", "latest"):
    steps = _steps(os.path.join(root, kind))
    if steps:
      return kind, steps[-1]
  raise NoCheckpointError(f"{workdir} has no checkpoint (expected {root}/best/<step> or "
                          f"latest/<step> from python -m fakedetect_jax.main): train it first")


def checkpoint_dir(workdir):
  """The step directory of the checkpoint `restore_best` reads (for copying it elsewhere)."""
  kind, step = best_or_latest(workdir)
  return os.path.join(os.path.abspath(workdir), "checkpoints", kind, str(step))


def restore_best(workdir, state):
  """(state, step) of a run's best checkpoint, else its latest (see best_or_latest), restored
  into the structure, shapes and shardings of `state` (arrays or jax.ShapeDtypeStructs)."""
  kind, step = best_or_latest(workdir)
  ckpts = Checkpoints(workdir)
  try:
    return ckpts.restore(getattr(ckpts, kind), state, step), step
  finally:
    ckpts.close()


def _abstract(state):
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, state)


class _DataState:
  """Carries a Grain iterator state (a JSON-able dict, captured when its batch was taken) to
  and from Grain's orbax handler, which stores it per host as JSON."""

  def __init__(self, state):
    self.state = state

  def get_state(self):
    return json.dumps(self.state, indent=1).encode()

  def set_state(self, data):
    self.state = json.loads(data.decode() if isinstance(data, bytes) else data)
