"""keras_vim: ViT-VQGAN and VIM (Yu et al., 2021) for Keras 3 on JAX, PyTorch and TensorFlow."""

from keras_vim import (
    data,
    distribution,
    layers,
    losses,
    metrics,
    models,
    pipelines,
    sampling,
    training,
    utils,
)

__version__ = "0.1.0"

__all__ = [
    "data",
    "distribution",
    "layers",
    "losses",
    "metrics",
    "models",
    "pipelines",
    "sampling",
    "training",
    "utils",
    "__version__",
]
