"""JAX: the variables and optimizer slots carry the shardings the distribution promises
(also after a compiled step, which keeps them)."""

import pytest
from one_step import MODELS, run


def _spec(variable):
    return tuple(variable.value.sharding.spec)


def _padded(axes, rank):
    return tuple(axes) + (None,) * (rank - len(axes)) if axes is not None else (None,) * rank


@pytest.mark.parametrize("name", ["tokenizer", "prior"])
def test_model_parallel_variables_carry_the_layout_map(name, micro_vqgan_config):
    spread = run(name, "model", micro_vqgan_config)
    model, distribution = spread.model, spread.setup.distribution
    layout_map = MODELS[name].get_layout_map(distribution.device_mesh)
    by_name = {}
    sharded = 0
    for variable in model.variables:
        layout = layout_map[variable.path]
        expected = _padded(None if layout is None else layout.axes, len(variable.shape))
        # After the step too: the compiled step keeps the variables' shardings.
        assert _padded(_spec(variable), len(variable.shape)) == expected, variable.path
        assert variable.value.sharding.mesh.shape == {"batch": 2, "model": 4}
        if "model" in expected:
            sharded += 1
            shard = variable.value.addressable_shards[0].data.shape
            assert shard[expected.index("model")] * 4 == variable.shape[expected.index("model")]
        by_name[variable.path.replace("/", "_")] = expected
    assert sharded == {"tokenizer": 32, "prior": 16}[name]
    # The optimizers' slots (the discriminator optimizer's included) follow their variables.
    slots = [v for v in model.optimizer.variables if v.path.endswith("_momentum")]
    assert len(slots) == len(model.trainable_variables)
    for slot in slots:
        reference = slot.path.split("/", 1)[1][: -len("_momentum")]
        assert _padded(_spec(slot), len(slot.shape)) == by_name[reference], slot.path


def test_data_parallel_replicates_every_variable_and_optimizer_slot(micro_vqgan_config):
    model = run("tokenizer", "data", micro_vqgan_config).model
    variables = model.variables + model.optimizer.variables + model.metrics_variables
    assert any("discriminator" in v.path for v in model.optimizer.variables)
    for variable in variables:
        sharding = variable.value.sharding
        assert sharding.is_fully_replicated, variable.path
        assert len(sharding.device_set) == 8, variable.path
