"""Effort (Yan et al., ICML 2025): CLIP ViT-L/14 whose attention projections train only a rank-r
residual orthogonal to their principal subspace.

Each q/k/v/out projection W (torch layout [out, in]) is split by SVD, W = U S Vh: the top n - r
singular directions make the frozen `weight_main` (stored as a [in, out] kernel, our layout),
the last r the trainable `U_residual` [out, r], `S_residual` [r], `V_residual` [r, in], so
W = weight_main + U_residual diag(S_residual) V_residual exactly at the start. The bias and
everything else in the tower stay frozen; the head (on the pooled class token, 1024 wide) trains.
r = 1 as in the released code (DeepfakeBench's effort: r = 1024 - 1 kept): 4 projections x 24
layers x (1024 + 1 + 1024) = 196,704 trainable tower parameters, plus the head's 1,025.

The two regularisers, sown into the 'losses' collection (the objective adds them, weighted):
  orthogonality   0.5 ||[U_r U] [U_r U]^T - I||_F + 0.5 ||[V_r; V] [V_r; V]^T - I||_F, with the
                  frozen principal bases U_r, V_r of the split. For the square projections of a
                  CLIP tower U_r U_r^T = I - U0 U0^T (U0 the residual basis at the split) and
                  V_r^T V_r = I - V0^T V0, so both norms follow from U, V, U0, V0 alone (no
                  [1024, 1023] bases are stored): see `orthogonality`.
  singular value  | ||W||_F^2 - ||W_0||_F^2 |, the weight's energy kept at its original's.
"""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from fakedetect_jax.models import clip
from fakedetect_jax.models.registry import ModelSpec, register

RESIDUAL = ("U_residual", "S_residual", "V_residual")


class SVDResidualDense(nn.Module):
  """x @ (weight_main + (U diag(S) V)^T) + bias, the residual applied in factored form."""
  features: int
  rank: int = 1
  orth_weight: float = 1.0
  sv_weight: float = 1.0
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    d_in, d_out, r = x.shape[-1], self.features, self.rank
    if d_in != d_out:
      raise ValueError(f"{self.name}: Effort's split is for square projections, got "
                       f"{d_in} -> {d_out}")
    lecun = nn.initializers.lecun_normal()
    main = self.param("weight_main", lecun, (d_in, d_out))
    bias = self.param("bias", nn.initializers.zeros, (d_out,))
    u = self.param("U_residual", nn.initializers.orthogonal(), (d_out, r))
    s = self.param("S_residual", nn.initializers.zeros, (r,))
    v = self.param("V_residual", nn.initializers.orthogonal(column_axis=0), (r, d_in))
    # The split's residual bases and the original weight's energy: frozen references of the
    # regularisers (set by `split_projection` from the real weight; random at bare init).
    u0 = self.param("U_start", lambda k, s: u, None)
    v0 = self.param("V_start", lambda k, s: v, None)
    energy = self.param("energy_start", lambda k: jnp.sum(jnp.square(main)))
    if self.is_mutable_collection("losses"):
      self.sow("losses", "orthogonality", self.orth_weight * orthogonality(u, v, u0, v0))
      self.sow("losses", "singular_value",
               self.sv_weight * jnp.abs(energy_of(main, u, s, v) - energy))
    c = lambda a: a.astype(self.dtype)
    y = x.astype(self.dtype) @ c(main) + ((x.astype(self.dtype) @ c(v.T)) * c(s)) @ c(u.T)
    return y + c(bias)


def orthogonality(u, v, u0, v0):
  """Effort's orthogonality loss for a square projection (module docstring), from
  ||A A^T - B B^T||_F^2 = ||A^T A||^2 + ||B^T B||^2 - 2 ||B^T A||^2 (for U: [U_r U][U_r U]^T - I =
  U U^T - U0 U0^T) and, for V, ||[V_r; V][V_r; V]^T - I||^2 = 2 ||V_r V^T||^2 + ||V V^T - I||^2
  with ||V_r V^T||^2 = ||V||^2 - ||V V0^T||^2."""
  sq = lambda a: jnp.sum(jnp.square(a))
  u_term = sq(u.T @ u) + sq(u0.T @ u0) - 2 * sq(u0.T @ u)
  cross = sq(v) - sq(v @ v0.T)
  v_term = 2 * cross + sq(v @ v.T - jnp.eye(v.shape[0], dtype=v.dtype))
  # The floor keeps the gradient finite where a norm is ~0 (at the split, up to rounding).
  norm = lambda sq_norm: jnp.sqrt(jnp.maximum(sq_norm, 1e-12))
  return 0.5 * norm(u_term) + 0.5 * norm(v_term)


def energy_of(main, u, s, v):
  """||main + (U diag(S) V)^T||_F^2 without forming the residual matrix."""
  us = u * s
  cross = jnp.sum((u.T @ main.T @ v.T) * jnp.diag(s))
  return jnp.sum(jnp.square(main)) + 2 * cross + jnp.sum((us.T @ us) * (v @ v.T))


def split_projection(kernel, bias, rank):
  """An SVDResidualDense's params from a dense projection's kernel [in, out] and bias (numpy)."""
  w = np.asarray(kernel, np.float64).T  # torch layout [out, in]
  u, s, vh = np.linalg.svd(w, full_matrices=False)
  k = len(s) - rank
  main = (u[:, :k] * s[:k]) @ vh[:k]
  f32 = lambda a: np.asarray(a, np.float32)
  return {
      "weight_main": f32(main.T),
      "bias": f32(bias),
      "U_residual": f32(u[:, k:]),
      "S_residual": f32(s[k:]),
      "V_residual": f32(vh[k:]),
      "U_start": f32(u[:, k:]),
      "V_start": f32(vh[k:]),
      "energy_start": np.float32(np.sum(w * w)),
  }


def from_clip(variables, rank=1):
  """Effort variables from a CLIP detector's ({'params': {'tower': ..., ...}}): every attention
  projection of the tower split (`split_projection`), the rest as is."""
  out = jax.tree.map(lambda a: a, dict(variables))
  blocks = out["params"]["tower"]["encoder"]
  for block in blocks.values():
    attn = block["attn"]
    for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
      p = attn[name]
      if "kernel" in p:
        attn[name] = split_projection(p["kernel"], p["bias"], rank)
  return out


def effort(rank=1, orth_weight=1.0, sv_weight=1.0, variant="l14", **kwargs):
  """The Effort detector: a CLIP detector on the pooled class token whose attention projections
  are SVDResidualDense layers (kwargs: ClipDetector's, e.g. tiny tower overrides)."""
  projection = functools.partial(
      SVDResidualDense, rank=rank, orth_weight=orth_weight, sv_weight=sv_weight)
  return clip.ClipDetector(variant, "pooled", projection=projection, **kwargs)


register(
    "effort",
    ModelSpec(
        effort,
        default_size=224,
        min_size=14,
        explainer="rollout",
        converters={"clip": {
            "prefix": "tower",
            "adapt": from_clip
        }},
        trainable=r"/(U_residual|S_residual|V_residual)$|(^|/)head/",
        bench_batch=4))
