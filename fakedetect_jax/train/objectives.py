"""Training objectives, looked up by `config.objective`.

An objective says what the model is trained to output and how that output becomes a score:

  loss(model, variables, inputs, labels, rng, **extras) -> (losses, n_correct, batch_stats)
      `inputs`: what the model takes (`model_input`: an image array for the frames view, the
      dict for the video views), already normalised, augmented and in the compute dtype;
      `labels` int32 [B]; `rng` the dropout key; `extras` the batch arrays named in
      `extra_keys` (e.g. per-frame labels), each with a leading batch axis. Returns float32
      losses with a leading batch axis (per example, or per example and frame: the step
      minimises their mean), the number of correct predictions and the 'batch_stats'
      collection after the forward pass.
  score(model, variables, inputs) -> float32 [B, ...]
      What evaluation reads: a fake probability per row (classify, sync) or any array with a
      leading batch axis (e.g. per-segment scores).

`register(name, Objective(...))` adds one; train/step.py has no code of its own per objective.
"""
import dataclasses
from typing import Callable, Tuple

import jax
import jax.numpy as jnp
import optax

from fakedetect_jax.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Objective:
  loss: Callable
  score: Callable
  extra_keys: Tuple[str, ...] = ()  # batch keys the loss needs beyond 'inputs' and 'labels'


OBJECTIVES = {}


def register(name, objective):
  """Makes `objective` the one `config.objective = name` selects (replacing any of that name)."""
  OBJECTIVES[name] = objective
  return objective


def get(name):
  if name not in OBJECTIVES:
    raise ConfigError(f"unknown objective {name!r}; known objectives: "
                      f"{', '.join(sorted(OBJECTIVES))}")
  return OBJECTIVES[name]


def model_input(inputs, view):
  """What the model takes from a batch's 'inputs' dict: frame models an image, video models the
  dict (`view` is config.data.view)."""
  return inputs["image"] if view == "frames" else inputs


def apply_train(model, variables, inputs, rng, method=None):
  """model.apply in training mode: (output, 'batch_stats' after this forward pass, the sum of
  the scalar regularisers the model sowed into its 'losses' collection (0 if none; e.g.
  Effort's orthogonality and singular-value terms, already weighted)). Objectives add the
  regulariser to every example's loss, so the step's mean counts it once."""
  out, updates = model.apply(
      variables,
      inputs,
      train=True,
      rngs={"dropout": rng},
      mutable=["batch_stats", "losses"],
      method=method)
  sown = jax.tree.leaves(updates.get("losses", {}))
  regularizer = sum((jnp.sum(x).astype(jnp.float32) for x in sown), jnp.float32(0.0))
  return out, updates.get("batch_stats", variables["batch_stats"]), regularizer


# classify: one fake logit per row, sigmoid cross-entropy; score = sigmoid.


def _classify_loss(model, variables, inputs, labels, rng):
  logits, batch_stats, reg = apply_train(model, variables, inputs, rng)
  losses = optax.sigmoid_binary_cross_entropy(logits, labels.astype(jnp.float32)) + reg
  return losses, jnp.sum((logits > 0) == (labels > 0)), batch_stats


def _classify_score(model, variables, inputs):
  return jax.nn.sigmoid(model.apply(variables, inputs, train=False).astype(jnp.float32))


# sync: SyncNet-style lip-sync pre-training. Which of the candidate audio offsets matches the
# lips (offset 0 is the truth on in-sync videos; the shifted ones are the negatives).


def sync_target(logits):
  """Index of offset 0 among a sync model's candidate offsets (the centre of an odd count)."""
  return logits.shape[-1] // 2


def _sync_loss(model, variables, inputs, labels, rng):
  del labels  # the target is the centre offset whatever the row's label
  logits, batch_stats, reg = apply_train(model, variables, inputs, rng, method="sync_logits")
  target = jnp.full(logits.shape[:1], sync_target(logits))
  losses = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), target) + reg
  return losses, jnp.sum(jnp.argmax(logits, -1) == target), batch_stats


def _sync_score(model, variables, inputs):
  # Probability that the true offset is not 0 (out of sync = suspicious).
  logits = model.apply(variables, inputs, train=False, method="sync_logits").astype(jnp.float32)
  return 1.0 - jax.nn.softmax(logits, -1)[:, sync_target(logits)]


register("classify", Objective(_classify_loss, _classify_score))
register("sync", Objective(_sync_loss, _sync_score))

# localize: per-frame fake probabilities and segment boundaries (temporal forgery
# localization), in its own module; imported here for its registration.
from fakedetect_jax.train import localize  # noqa: E402,F401
