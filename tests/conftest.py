"""Test setup: the backend comes from KERAS_BACKEND (default jax); torch uses one thread."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
# TensorFlow is imported by the data pipeline on every backend; keep it quiet and off the GPU.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from micro_configs import MICRO_VQGAN  # noqa: E402

if keras.backend.backend() == "torch":
    import torch

    # With two threads torch slows ~20x when the other core is busy.
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _reset_keras_state():
    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def micro_vqgan_config():
    return dict(MICRO_VQGAN)
