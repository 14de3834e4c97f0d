"""`keras_vim.distribution` on the devices of the normal test run (one device): the checks,
the per-backend support, the command-line flags and the layout maps' rules.

Multi-device training (8 virtual JAX devices, 2 TensorFlow replicas) is in `mesh/`.
"""

import argparse
import importlib.util
import os

import keras
import numpy as np
import pytest

from keras_vim.distribution import (
    DistributionSetup,
    add_distribution_arguments,
    configure,
    configure_from_args,
    distribution_argv,
)
from keras_vim.models import VIM, VitVQGAN

BACKEND = keras.backend.backend()


@pytest.fixture(autouse=True)
def _single_device_afterwards():
    yield
    configure("none")


def test_bad_kind_and_mesh_shape_are_refused():
    with pytest.raises(ValueError, match="`kind`"):
        configure("pipeline")
    with pytest.raises(ValueError, match="`mesh_shape`"):
        configure("none", mesh_shape=(2,))
    with pytest.raises(TypeError, match="`multi_host`"):
        configure("none", multi_host="yes")


def test_mesh_shape_entries_must_be_positive_integers():
    from keras_vim.distribution.setup import _check_mesh_shape

    assert _check_mesh_shape([2, np.int64(4)], 2, 8, "batch, model") == (2, 4)
    assert _check_mesh_shape(8, 1, 8, "devices") == (8,)
    with pytest.raises(ValueError, match=r"`mesh_shape` must be 2 positive int"):
        _check_mesh_shape((8,), 2, 8, "batch, model")
    for bad in (2.0, True):
        with pytest.raises(TypeError, match=r"`mesh_shape\[1\]` must be an integer >= 1"):
            _check_mesh_shape((4, bad), 2, 8, "batch, model")
    with pytest.raises(ValueError, match=r"`mesh_shape\[0\]` must be an integer >= 1, got 0"):
        _check_mesh_shape((0, 8), 2, 8, "batch, model")
    with pytest.raises(ValueError, match="`mesh_shape`.*holds 4 devices"):
        _check_mesh_shape((2, 2), 2, 8, "batch, model")


def test_none_runs_on_one_device_on_every_backend():
    setup = configure("none", batch_size=7)
    assert (setup.kind, setup.num_replicas, setup.num_devices) == ("none", 1, 1)
    assert setup.distribution is None and setup.strategy is None
    with setup.scope():
        layer = keras.layers.Dense(2)
        layer.build((None, 3))
    assert layer.kernel.shape == (3, 2)


def test_global_batch_must_split_evenly_over_the_replicas():
    setup = DistributionSetup("data", num_devices=8, num_replicas=8, mesh_shape=(8,))
    assert setup.check_batch_size(64) == 64
    with pytest.raises(ValueError, match=r"`batch_size`=12 .* 8 data-parallel replicas.*e\.g\. 8"):
        setup.check_batch_size(12)
    with pytest.raises(ValueError, match="`tokenizer_batch_size`=4"):
        setup.check_batch_size(4, name="tokenizer_batch_size")
    for bad in (8.0, True, None):
        with pytest.raises(TypeError, match="`batch_size` must be an integer >= 1"):
            setup.check_batch_size(bad)
    with pytest.raises(ValueError, match="`batch_size` must be an integer >= 1, got 0"):
        setup.check_batch_size(0)
    assert type(setup.check_batch_size(np.int64(16))) is int
    assert setup.largest_batch_size(250) == 248 and setup.largest_batch_size(7) == 0


def test_backend_support_is_as_documented():
    if BACKEND == "torch":
        for kwargs in ({"kind": "data"}, {"kind": "model", "model_class": VIM}):
            with pytest.raises(ValueError, match="torch backend trains on one device only"):
                configure(**kwargs)
        with pytest.raises(ValueError, match="with multi_host is not supported"):
            configure("none", multi_host=True)
    elif BACKEND == "tensorflow":
        import tensorflow as tf

        with pytest.raises(ValueError, match="not kind 'model'"):
            configure("model", model_class=VIM)
        with pytest.raises(ValueError, match="not multi_host"):
            configure("data", multi_host=True)
        setup = configure("data", batch_size=len(tf.config.list_logical_devices("CPU")))
        assert isinstance(setup.strategy, tf.distribute.MirroredStrategy)
        assert setup.num_replicas == setup.strategy.num_replicas_in_sync == setup.num_devices
        # Activated: later models are built under the strategy without a `with` block.
        assert tf.distribute.get_strategy() is setup.strategy
        layer = keras.layers.Dense(2)
        layer.build((None, 3))
        assert isinstance(layer.kernel.value, tf.distribute.DistributedValues)
        configure("none")
        assert not tf.distribute.has_strategy()
    else:
        with pytest.raises(TypeError, match="`model_class`"):
            configure("model")
        devices = len(keras.distribution.list_devices())
        with pytest.raises(ValueError, match="`mesh_shape`.*holds"):
            configure("data", mesh_shape=(devices + 1,))
        with pytest.raises(ValueError, match=r"`mesh_shape` must be 2 positive int"):
            configure("model", model_class=VIM, mesh_shape=(devices,))
        setup = configure("model", model_class=VIM)
        current = keras.distribution.distribution()
        assert isinstance(current, keras.distribution.ModelParallel)
        assert setup.mesh_shape == (1, devices) and setup.num_replicas == 1
        assert tuple(current.device_mesh.axis_names) == ("batch", "model")
        configure("none")
        assert keras.distribution.distribution() is None


def test_command_line_flags_round_trip():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch-size", type=int, default=8)
    add_distribution_arguments(parser)
    args = parser.parse_args([])
    assert (args.distribution, args.mesh_shape, args.multi_host) == ("none", None, False)
    args = parser.parse_args(["--distribution", "model", "--mesh-shape", "2,4", "--multi-host"])
    assert (args.distribution, args.mesh_shape, args.multi_host) == ("model", (2, 4), True)
    assert parser.parse_args(distribution_argv(args)) == args
    for bad in (["--mesh-shape", "2,x"], ["--mesh-shape", "0"], ["--distribution", "pipe"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)
    setup = configure_from_args(parser.parse_args([]), VitVQGAN, batch_size=8)
    assert setup.kind == "none" and setup.num_replicas == 1


# Megatron-style rules: (pattern suffix of the variable path, expected axes).
EXPECTED_SHARDED = {
    "attention/query/kernel": (None, "model"),
    "attention/key/bias": ("model",),
    "attention/attention_output/kernel": ("model", None),
    "mlp_intermediate/kernel": (None, "model"),
    "mlp_intermediate/bias": ("model",),
    "mlp_output/kernel": ("model", None),
    "position_embedding/row_embedding": (None, "model"),
}
TOKENIZER_ONLY = {
    "patch_embedding/projection/kernel": (None, "model"),
    "head/hidden/kernel": (None, "model"),
    "head/output_projection/kernel": ("model", None),
}
PRIOR_ONLY = {
    "token_embedding/embeddings": (None, "model"),
    "condition_embedding/embeddings": (None, "model"),
    "logits/kernel": (None, "model"),
    "logits/bias": ("model",),
}
REPLICATED = (
    "attention_norm/gamma",
    "attention/attention_output/bias",
    "mlp_output/bias",
    "final_norm/beta",
    "quantizer/codebook",
    "quantizer/input_projection/kernel",
    "to_pixels/kernel",
    "discriminator/",
)


def _mesh():
    # A (1, 1) mesh: the rules do not depend on the number of devices.
    return keras.distribution.DeviceMesh((1, 1), ("batch", "model"), ["cpu:0"])


@pytest.mark.parametrize("name", ["tokenizer", "prior"])
def test_layout_map_rules_match_the_variable_paths(name, micro_vqgan_config):
    if name == "tokenizer":
        model = VitVQGAN(**micro_vqgan_config)
        expected, absent = {**EXPECTED_SHARDED, **TOKENIZER_ONLY}, PRIOR_ONLY
    else:
        model = VIM(32, 4, 1, 4, 16, 32, num_classes=3)
        expected, absent = {**EXPECTED_SHARDED, **PRIOR_ONLY}, TOKENIZER_ONLY
    layout_map = type(model).get_layout_map(_mesh())
    seen = set()
    sharded = 0
    for variable in model.weights:
        layout = layout_map[variable.path]  # raises if two rules match one path
        rule = [suffix for suffix in expected if variable.path.endswith(suffix)]
        if rule:
            seen.add(rule[0])
            assert tuple(layout.axes) == expected[rule[0]], variable.path
        if layout is not None:
            sharded += 1
            assert len(layout.axes) == len(variable.shape), variable.path
            assert not any(s in variable.path for s in REPLICATED), variable.path
            assert not any(variable.path.endswith(s) for s in absent), variable.path
    assert seen == set(expected)
    blocks = 2 if name == "tokenizer" else 1
    # Per block: q/k/v kernels and biases, attention output, 2 MLP kernels, 1 MLP bias.
    per_block = 10
    extra = {"tokenizer": 2 * 2 + 2 + 2 * 3, "prior": 2 + 4}[name]  # embeddings, heads, logits
    assert sharded == blocks * per_block + extra


def test_layout_map_needs_both_mesh_axes():
    mesh = keras.distribution.DeviceMesh((1, 1), ("data", "model"), ["cpu:0"])
    with pytest.raises(ValueError, match="`batch_axis`='batch'"):
        VIM.get_layout_map(mesh)
    layout_map = VIM.get_layout_map(mesh, batch_axis="data")
    assert tuple(layout_map["vim/block_0/mlp_output/kernel"].axes) == ("model", None)
    with pytest.raises(TypeError, match="`device_mesh`"):
        VitVQGAN.get_layout_map(np.zeros((2, 2)))


@pytest.mark.parametrize("recipe", ["train_vit_vqgan", "train_vim"])
def test_recipes_take_the_distribution_flags(recipe):
    path = os.path.join(os.path.dirname(__file__), "..", "..", "recipes", f"{recipe}.py")
    spec = importlib.util.spec_from_file_location(recipe, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    args = module.parse_args(["--distribution", "model", "--mesh-shape", "2,4", "--multi-host"])
    assert (args.distribution, args.mesh_shape, args.multi_host) == ("model", (2, 4), True)
    assert module.parse_args([]).distribution == "none"
