"""The model zoo from the command line.

python -m fakedetect_jax.models                       # registered models, one a line
python -m fakedetect_jax.models summary xception [--size 299]
python -m fakedetect_jax.models convert xception imagenet weights/xception_imagenet.npz
python -m fakedetect_jax.models convert vit_s16 model.safetensors weights/vit_s16.npz
python -m fakedetect_jax.models convert effort weights/clip-vit-large-patch14 weights/effort.npz
python -m fakedetect_jax.models import-deepfakebench ckpt_best.pth --detector=xception --out=RUN

`summary` prints parameters per top-level layer (shapes only: nothing is computed); its last
lines are `total_params: N` and `trainable_params: N` (frozen parts, e.g. univfd's CLIP tower,
count in the first only). `convert` turns Keras Applications, timm or CLIP weights into
the .npz that configs take as pretrained= (docs/pretrained.md), for the models whose spec lists
that source among its converters (models.REGISTRY); the spec, not the file's extension, picks
the converter: the CLIP models (clip_vit_b16, clip_vit_l14, univfd, clip_finetune, effort) take
a Hugging Face transformers or open_clip checkpoint (.safetensors, .bin/.pt/.pth or a Hugging
Face snapshot directory; models/clip_convert.py), the timm models a timm .safetensors, the Keras
ones 'imagenet' or a Keras file. summary takes frame and clips models (a clip of CLIP_LEN
frames), convert frame models; the default size is the model's spec's default_size (--size:
CLIP and ViT position embeddings are resized to it). `import-deepfakebench` turns a released
DeepfakeBench detector checkpoint (--detector: its name there, e.g. meso4, meso4Inception,
xception, efficientnetb4, spsl, srm, ucf, f3net, effort) into a run directory that evaluate,
predict and serve take like a trained run (models/deepfakebench, train/imported.py).
"""
import argparse
import sys

import jax
import jax.numpy as jnp
import numpy as np

from fakedetect_jax import models

# Frames per clip of the clips-view models' summary (TALL's 4 sub-clips of 4).
CLIP_LEN = 16


def example_input(view, size):
  """Zeros shaped like one row of the model's input: an image, or a clip (frames and their
  face_found mask) for the clips view."""
  if view == "clips":
    return {
        "frames": jnp.zeros((1, CLIP_LEN, size, size, 3)),
        "face_found": jnp.ones((1, CLIP_LEN))
    }
  return jnp.zeros((1, size, size, 3))


def abstract_variables(name, size, **kwargs):
  model = models.get_model(name, **kwargs)
  x = example_input(models.spec(name).view, size)
  v = jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))
  return {k: v[k] for k in ("params", "batch_stats") if k in v}


def count(tree):
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def summary(name, size):
  """Parameters per top-level layer; the last two lines are `total_params: N` (every parameter,
  frozen ones included; batch-norm statistics are not parameters and have their own line) and
  `trainable_params: N` (what the optimizer updates: the spec's `trainable` pattern)."""
  v = abstract_variables(name, size)
  params, stats = v["params"], v.get("batch_stats", {})
  trainable = models.registry.Partition(models.spec(name).trainable).trainable(params)
  shape = f"{CLIP_LEN}x" if models.spec(name).view == "clips" else ""
  lines = [
      f"model: {name}  input: {shape}{size}x{size}x3",
      f"{'layer':40s} {'params':>12s} {'trainable':>12s}"
  ]
  for layer, tree in params.items():
    lines.append(f"{layer:40s} {count(tree):12,d} {count(trainable.get(layer, {})):12,d}")
  lines.append(f"batch_norm_statistics: {count(stats)}  (running mean/var, not parameters)")
  lines.append(f"total_params: {count(params)}")
  lines.append(f"trainable_params: {count(trainable)}")
  return "\n".join(lines)


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  sub = p.add_subparsers(dest="command")
  s = sub.add_parser("summary", help="parameters of one model")
  s.add_argument("name")
  s.add_argument("--size", type=int, help="input pixels (default: the model's own)")
  c = sub.add_parser("convert", help="Keras/timm/CLIP weights -> .npz")
  c.add_argument("name")
  c.add_argument(
      "source",
      help="'imagenet' (Keras download), .h5/.weights.h5/.keras, a timm .safetensors, or for "
      "the CLIP models a Hugging Face / open_clip checkpoint (.safetensors, .bin, .pt, .pth or "
      "a Hugging Face snapshot directory)")
  c.add_argument("out", help="the .npz to write")
  c.add_argument("--size", type=int, help="input pixels (ViT/CLIP position embeddings)")
  d = sub.add_parser("import-deepfakebench", help="a DeepfakeBench .pth -> a run directory")
  d.add_argument("checkpoint", help="the .pth DeepfakeBench saved (state dict)")
  d.add_argument("--detector", required=True, help="its DeepfakeBench detector name")
  d.add_argument("--out", required=True, help="the run directory to write")
  args = p.parse_args(argv)
  if args.command is None:
    print("\n".join(models.names()))
    return 0
  if args.command == "import-deepfakebench":
    return _import_deepfakebench(args)
  if args.name not in models.names():
    print(
        f"error: unknown model {args.name!r}; registered: {', '.join(models.names())}",
        file=sys.stderr)
    return 2
  spec = models.REGISTRY[args.name]
  if spec.view != "frames" and (args.command != "summary" or spec.view != "clips"):
    print(
        f"error: {args.name} takes the {spec.view} view, not an image; summary is for frame "
        f"and clips models, convert for frame models",
        file=sys.stderr)
    return 2
  size = args.size or spec.default_size
  if size < spec.min_size:
    print(
        f"error: --size {size} is below the smallest input {args.name} accepts "
        f"({spec.min_size} px)",
        file=sys.stderr)
    return 2
  if args.command == "summary":
    print(summary(args.name, size))
    return 0
  from fakedetect_jax.models import pretrained
  if pretrained.source_kind(args.name, args.source) is None:
    kind = "timm" if str(args.source).endswith(".safetensors") else "keras"
    print(
        f"error: {args.name} takes no {kind} weights; its weight sources: "
        f"{', '.join(spec.converters) or 'none'}",
        file=sys.stderr)
    return 2
  try:
    variables = pretrained.convert(args.name, args.source, abstract_variables(args.name, size))
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  n = pretrained.save_npz(args.out, args.name, variables)
  print(f"wrote {n} arrays to {args.out}")
  return 0


def _import_deepfakebench(args):
  from fakedetect_jax.errors import FakedetectError
  from fakedetect_jax.train import imported
  try:
    out, n = imported.import_deepfakebench(args.checkpoint, args.detector, args.out)
  except (FakedetectError, FileExistsError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(f"imported {args.detector} ({n:,d} parameters) from {args.checkpoint} into {out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
