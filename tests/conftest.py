"""Test setup: the backend comes from KERAS_BACKEND (default jax); torch uses one thread."""

import atexit
import os
import shutil
import sys
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")
# TensorFlow is imported by the data pipeline on every backend; keep it quiet and off the GPU.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from micro_configs import MICRO_VQGAN  # noqa: E402

if keras.backend.backend() == "jax":
    import jax

    # Many tests compile the same programs again: a new model of the same configuration,
    # compiled the same way, traces to the same XLA module (the cache key leaves out layer
    # names). A compilation cache of this session's own (a new, empty directory, removed at
    # exit) compiles each such program once; what every test runs and checks is unchanged.
    _jax_cache = tempfile.mkdtemp(prefix="keras_vim_tests_xla_cache_")
    atexit.register(shutil.rmtree, _jax_cache, ignore_errors=True)
    jax.config.update("jax_compilation_cache_dir", _jax_cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

if keras.backend.backend() == "torch":
    import torch

    # With two threads torch slows ~20x when the other core is busy.
    torch.set_num_threads(1)


_session_exit_status = None


def pytest_sessionfinish(session, exitstatus):
    global _session_exit_status
    _session_exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """With KERAS_VIM_TESTS_FAST_EXIT=1 (`.ci/test.sh` sets it), the process ends once pytest has
    reported, without the interpreter's teardown: collecting the garbage of a whole suite's
    traced TensorFlow and compiled JAX programs took 20 s (PyTorch's run, alone) to over 2
    minutes (JAX and TensorFlow, side by side) after the last line was printed."""
    if os.environ.get("KERAS_VIM_TESTS_FAST_EXIT") != "1" or _session_exit_status is None:
        return
    if keras.backend.backend() == "jax":
        shutil.rmtree(_jax_cache, ignore_errors=True)  # the atexit hook will not run
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_session_exit_status)


@pytest.fixture(autouse=True)
def _reset_keras_state():
    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture
def no_compilation_cache_writes():
    """JAX: for a test whose compiled programs are its own and large (a VGG16's weights are
    constants of its train step, ~100 MB): writing them to the session's compilation cache
    (compressing them first) would cost seconds and never be read."""
    if keras.backend.backend() != "jax":
        yield
        return
    option = "jax_persistent_cache_min_compile_time_secs"
    previous = getattr(jax.config, option)
    jax.config.update(option, float("inf"))
    try:
        yield
    finally:
        jax.config.update(option, previous)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def micro_vqgan_config():
    return dict(MICRO_VQGAN)
