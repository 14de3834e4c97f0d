"""Multi-device tests: they run only in their own pytest process with several devices.

    XLA_FLAGS=--xla_force_host_platform_device_count=8 KERAS_BACKEND=jax \
        python -m pytest tests/distribution/mesh
    KERAS_VIM_TF_CPUS=2 KERAS_BACKEND=tensorflow python -m pytest tests/distribution/mesh

(`.ci/test.sh` runs both.) The device count must be fixed before the backend starts, hence
the separate process; in the normal per-backend runs this directory is not collected.
"""

import os

import keras

BACKEND = keras.backend.backend()
JAX_DEVICES = 8
TF_REPLICAS = 2


def _tensorflow_replicas():
    import tensorflow as tf

    wanted = int(os.environ.get("KERAS_VIM_TF_CPUS", "0"))
    if wanted > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * wanted
            )
        except RuntimeError:  # TensorFlow already started: keep its devices
            pass
    return len(tf.config.list_logical_devices("CPU"))


def _ready():
    if BACKEND == "jax":
        import jax

        return jax.device_count() == JAX_DEVICES
    if BACKEND == "tensorflow" and os.environ.get("KERAS_VIM_TF_CPUS"):
        return _tensorflow_replicas() == TF_REPLICAS
    return False


if not _ready():
    collect_ignore_glob = ["test_*.py"]
elif BACKEND != "jax":
    # ModelParallel, shardings and ahead-of-time compiling are JAX's; the recipes run end to
    # end on JAX's 8 devices.
    collect_ignore_glob = ["test_jax_shardings.py", "test_mesh_recipes.py", "test_scale_layouts.py"]
