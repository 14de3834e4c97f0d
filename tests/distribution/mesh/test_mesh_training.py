"""One training step on many devices equals the step on one device.

JAX (8 virtual CPU devices): `DataParallel` over all 8 and `ModelParallel` on a (2, 4) mesh.
TensorFlow (2 logical CPUs): `MirroredStrategy` over both. For the tokenizer (with the GAN step:
two networks, two optimizers, `discriminator_start=0`) and for the prior, the losses and the
updated weights must match a single-device step, and a checkpoint saved under the mesh loads on
one device. The shardings of JAX's variables are checked in `test_jax_shardings.py`.
"""

import os

import keras
import numpy as np
import pytest
from one_step import BACKEND, BATCH, KINDS, run

from keras_vim.distribution import configure
from keras_vim.models import VIM


@pytest.mark.parametrize("name", ["tokenizer", "prior"])
@pytest.mark.parametrize("kind", KINDS)
def test_one_step_matches_one_device(name, kind, micro_vqgan_config):
    single = run(name, "none", micro_vqgan_config)
    spread = run(name, kind, micro_vqgan_config)
    assert spread.setup.num_replicas == {"data": BATCH if BACKEND == "jax" else 2, "model": 2}[kind]
    assert set(spread.logs) == set(single.logs)
    for key, value in single.logs.items():
        np.testing.assert_allclose(spread.logs[key], value, rtol=2e-5, err_msg=key)
    updated = single.model.get_weights()
    for variable, after, expected in zip(single.model.weights, spread.model.get_weights(), updated):
        np.testing.assert_allclose(after, expected, rtol=1e-4, atol=1e-6, err_msg=variable.path)
    # Not vacuous: the step moved the weights of every part, the discriminator included.
    moved = {}
    for variable, before, after in zip(single.model.weights, single.initial, updated):
        if not variable.trainable:
            continue
        part = variable.path.split("/")[1]
        moved[part] = max(moved.get(part, 0.0), float(np.max(np.abs(after - before))))
    assert all(change > 1e-3 for change in moved.values()), moved
    if name == "tokenizer":
        assert {"encoder", "quantizer", "decoder", "discriminator"} <= set(moved)
        assert single.logs["discriminator_loss"] > 0


def test_batch_that_does_not_split_is_refused():
    replicas = 8 if BACKEND == "jax" else 2
    with pytest.raises(ValueError, match=rf"`batch_size`=3 .* {replicas} data-parallel"):
        configure("data", batch_size=3, activate=False)
    if BACKEND == "jax":
        with pytest.raises(ValueError, match="`batch_size`=5 .* 2 data-parallel"):
            configure("model", VIM, mesh_shape=(2, 4), batch_size=5, activate=False)
        with pytest.raises(ValueError, match="`mesh_shape`=.* holds 9 devices"):
            configure("model", VIM, mesh_shape=(3, 3), activate=False)
        assert keras.distribution.distribution() is None  # nothing was activated


def test_checkpoint_saved_under_the_mesh_loads_on_one_device(micro_vqgan_config, tmp_path):
    kind = "model" if BACKEND == "jax" else "data"
    spread = run("tokenizer", kind, micro_vqgan_config)
    path = os.path.join(tmp_path, "tokenizer.keras")
    with spread.setup.scope():
        spread.model.save(path)
    loaded = keras.saving.load_model(path)  # no distribution here
    for variable, saved, restored in zip(
        spread.model.weights, spread.model.get_weights(), loaded.get_weights()
    ):
        np.testing.assert_array_equal(restored, saved, err_msg=variable.path)
    # Both optimizers' state (the momentum of each network) comes back.
    assert len(loaded.optimizer.variables) == len(spread.model.optimizer.variables)
    for saved, restored in zip(spread.model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(restored), keras.ops.convert_to_numpy(saved)
        )
    assert int(loaded.optimizer.iterations.numpy()) == 1
    momentum = [v for v in loaded.optimizer.variables if v.path.endswith("_momentum")]
    assert any("discriminator" in v.path for v in momentum)
    assert all(np.any(keras.ops.convert_to_numpy(v) != 0) for v in momentum[:3] + momentum[-3:])
    if BACKEND == "jax":
        import jax

        for variable in loaded.variables + loaded.optimizer.variables:
            assert isinstance(variable.value.sharding, jax.sharding.SingleDeviceSharding)
    else:
        import tensorflow as tf

        assert not isinstance(loaded.weights[0].value, tf.distribute.DistributedValues)
