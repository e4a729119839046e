"""fakedetect_jax: multi-signal deepfake video detection in JAX/Flax."""
import setuptools

# Pinned: these versions are known to install and run together (constraints.txt pins their
# dependencies too; the comments beside a pin say why it is where it is).
INSTALL_REQUIRES = [
    "jax==0.10.2",
    "jaxlib==0.10.2",
    "flax==0.12.8",
    "optax==0.2.8",
    "orbax-checkpoint==0.12.8",
    "ml-collections==1.1.0",
    "absl-py==2.5.1",
    "tensorflow-cpu==2.19.1",
    "tensorflow-datasets==4.9.10",
    # Random-access reading: array_record files through tfds.data_source, batched by Grain.
    # grain 0.2.12+ needs protobuf>=5, which mediapipe 0.10.14 and TensorFlow 2.19 do not take.
    "grain==0.2.11",
    "array-record==0.8.6",
    "tensorflow-metadata==1.17.3",
    "protobuf==4.25.9",
    "numpy==2.1.3",
    "mediapipe==0.10.14",
    "av==18.1.0",
    "librosa==0.11.0",
    "apache-beam==2.77.0",
    "mlcroissant==1.1.1",
    "importlib_resources==7.1.0",
    "scikit-image==0.26.0",
    # dlib's frontal face detector for the deepfakebench crop protocol (media/align.py): the
    # prebuilt wheel, no compiler and no model file needed.
    "dlib-bin==20.0.1.post1",
    "matplotlib==3.11.2",
    "tqdm==4.70.1",
    # Reading timm and Hugging Face / open_clip .safetensors weights (models/clip_convert.py,
    # timm_convert.py): the format's own reader, bfloat16 files included.
    "safetensors==0.8.0",
]

setuptools.setup(
    name="fakedetect_jax",
    version="0.1.0",
    description="Deepfake video detection from several signals, in JAX/Flax.",
    python_requires=">=3.11,<3.12",
    packages=setuptools.find_packages(include=["fakedetect_jax", "fakedetect_jax.*"]),
    package_data={"fakedetect_jax.serve": ["page.html"]},
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "cuda": ["jax[cuda12]==0.10.2"],
        # torch: the tests' PyTorch references (DeepfakeBench checkpoint import, ...);
        # transformers: tiny random CLIP towers as the reference of the CLIP converter. Not
        # open_clip_torch: it needs torchvision, whose PyPI wheels are built against the CUDA
        # torch (with the CPU torch `import torchvision` fails), so tests/test_clip_convert.py
        # rebuilds open_clip's key layout in torch.
        # torchmetrics: the AUROC of the avdeepfake1m SDK's clip AUC (evaluate/localization.py).
        # The SDK itself is not listed: setup.py cannot say --no-deps, and its metadata asks for
        # lightning, torchvision (CUDA-only wheels), torchaudio, numpy<2 and pandas 2, none of
        # which its evaluator imports. README installs it with `pip install --no-deps`.
        "dev": [
            "pytest==9.0.3", "scikit-learn==1.9.1", "dill==0.4.1", "selenium==4.40.0",
            "yapf==0.43.0", "torch==2.13.0", "transformers==5.23.0", "torchmetrics==1.9.0"
        ],
        # Reading released PyTorch checkpoints (python -m fakedetect_jax.models
        # import-deepfakebench): torch.load(weights_only=True).
        "deepfakebench": ["torch==2.13.0"],
        # The side-by-side benchmark (experiments/benchmarks/vs_torch.py): PyTorch's CPU build,
        # which pip takes from a local wheelhouse where one is configured (README, Tests).
        "bench": ["torch==2.13.0"],
    },
)
