"""DeepfakeBench's Effort (training/detectors/effort_detector.py): a Hugging Face CLIP ViT-L/14
vision transformer (`backbone`, its `vision_model`) whose self-attention projections are
SVD-residual layers, and a 2-class `head` on the pooled class token.

Each projection holds `weight_main` [out, in] (frozen), `bias`, and the trained residual
`U_residual` [out, r], `S_residual` [r], `V_residual` [r, in]; our SVDResidualDense has the same
tensors (weight_main transposed to a kernel). What its checkpoint lacks are the references of
Effort's regularisers, which only matter when training on from the import: the residual bases
of the split (`U_start`, `V_start`) are recovered as the directions `weight_main` lacks (its
last r singular vectors, an SVD per projection at import), and the weight's energy
(`energy_start`) is taken as the imported weight's, so both losses start at their minimum.
Inputs: 224 px; DeepfakeBench normalises with CLIP's mean and std, which our tower applies to
its [-1, 1] input itself.
"""
import numpy as np

from fakedetect_jax.models.deepfakebench import Detector, register

_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")


def _layer_norm(m, module, key):
  m.put(f"params/{module}/scale", m.tensor(key + ".weight"), key + ".weight")
  m.put(f"params/{module}/bias", m.tensor(key + ".bias"), key + ".bias")


def _svd_projection(m, module, key):
  main = m.tensor(key + ".weight_main")
  u, s, v = (m.tensor(f"{key}.{n}_residual") for n in ("U", "S", "V"))
  if main.ndim != 2 or u.ndim != 2 or v.ndim != 2 or s.ndim != 1:
    m.fail(f"{key}: expected weight_main [out, in], U_residual [out, r], S_residual [r], "
           f"V_residual [r, in], got {main.shape}, {u.shape}, {s.shape}, {v.shape}")
  r = s.shape[0]
  w = np.asarray(main, np.float64)
  left, _, right = np.linalg.svd(w)
  m.put(f"params/{module}/weight_main", main.T, key + ".weight_main")
  m.put(f"params/{module}/bias", m.tensor(key + ".bias"), key + ".bias")
  for n, value in (("U", u), ("S", s), ("V", v)):
    m.put(f"params/{module}/{n}_residual", value, f"{key}.{n}_residual")
  m.put(f"params/{module}/U_start", left[:, -r:], key + ".weight_main")
  m.put(f"params/{module}/V_start", right[-r:], key + ".weight_main")
  current = w + (np.asarray(u, np.float64) * np.asarray(s, np.float64)) @ np.asarray(v, np.float64)
  m.put(f"params/{module}/energy_start", np.asarray(np.sum(current * current)),
        key + ".weight_main")


def fill_effort(m, b="backbone."):
  t = "tower"
  emb = b + "embeddings."
  m.conv(f"{t}/patch_embed", emb + "patch_embedding", zero_bias=False)
  m.put(f"params/{t}/class_embedding", m.tensor(emb + "class_embedding"), emb + "class_embedding")
  key = emb + "position_embedding.weight"
  m.put(f"params/{t}/position_embedding", m.tensor(key), key)
  if m.has(emb + "position_ids"):
    m.tensor(emb + "position_ids")  # a buffer of 0..N-1 older transformers saved
  _layer_norm(m, f"{t}/ln_pre", b + "pre_layrnorm")  # sic: Hugging Face's name
  depth = 0
  while m.has(f"{b}encoder.layers.{depth}.layer_norm1.weight"):
    depth += 1
  if depth == 0:
    m.fail(f"no {b}encoder.layers.0.*: not a CLIP vision transformer")
  for i in range(depth):
    layer, block = f"{b}encoder.layers.{i}.", f"{t}/encoder/blocks_{i}"
    _layer_norm(m, f"{block}/ln_1", layer + "layer_norm1")
    for p in _PROJECTIONS:
      _svd_projection(m, f"{block}/attn/{p}", layer + "self_attn." + p)
    _layer_norm(m, f"{block}/ln_2", layer + "layer_norm2")
    m.dense(f"{block}/c_fc", layer + "mlp.fc1")
    m.dense(f"{block}/c_proj", layer + "mlp.fc2")
  _layer_norm(m, f"{t}/ln_post", b + "post_layernorm")
  m.logit("head", "head")


register(
    "effort",
    Detector(
        "effort",
        fill_effort,
        size=224,
        source="SCLBD/DeepfakeBench training/detectors/effort_detector.py (CLIP ViT-L/14, "
        "Hugging Face transformers' CLIPVisionTransformer)"))
