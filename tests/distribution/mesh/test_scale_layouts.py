"""benchmarks/scale.py on the 8 virtual devices: under model parallelism the compiled step's
parameters and optimizer state are split over the "model" axis, and the FLOPs of all devices
together are the step's."""

import os
import sys

import pytest
from micro_configs import SMALL_PRIOR

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", ".."))
from benchmarks import scale  # noqa: E402


def test_model_parallel_step_shards_the_optimizer_state():
    record = scale.measure("vim_tiny", "model2x4", "float32", 2, config=SMALL_PRIOR)
    assert (record["devices"], record["replicas"], record["global_batch"]) == (8, 2, 4)
    state = record["state_bytes"]
    assert record["optimizer_state_sharded"]
    # Every kernel and embedding is split 4 ways; the LayerNorms (~1% here) are replicated.
    for part in ("parameters", "optimizer"):
        assert state[part] / 4 < state[f"{part}_per_device"] < state[part] / 4 * 1.05, part
    analytic = scale.prior_analytic_flops(SMALL_PRIOR, 4)[0]
    assert record["flops_per_step"] == 8 * record["flops_per_device"]
    assert 1.0 < record["flops_per_step"] / analytic < 1.3
    assert record["memory_per_device"]["argument_bytes"] == pytest.approx(
        state["parameters_per_device"] + state["optimizer_per_device"], rel=0.01
    )
