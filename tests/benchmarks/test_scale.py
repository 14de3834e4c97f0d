"""benchmarks/scale.py: a compiled step's record (JAX) and the arithmetic of the tables."""

import math
import os
import sys

import keras
import pytest
from micro_configs import SMALL_PRIOR

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from benchmarks import scale  # noqa: E402

jax_only = pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="ahead-of-time compiling is JAX's (jit.lower)"
)


@pytest.fixture
def float32_policy():
    yield
    keras.config.set_dtype_policy("float32")  # `measure` sets the policy of the record


@jax_only
def test_tiny_prior_record_counts_the_step(float32_policy):
    record = scale.measure("vim_tiny", "data", "float32", 4, config=SMALL_PRIOR, mesh_shape=(1,))
    assert (record["family"], record["devices"], record["global_batch"]) == ("prior", 1, 4)
    from keras_vim.models import VIM

    assert record["parameters"] == VIM(**SMALL_PRIOR).count_params()
    # XLA counts the matmuls the analytic formula counts, plus the elementwise work, softmax
    # and the optimizer update: a little more (1.12 measured), never less.
    analytic = scale.prior_analytic_flops(SMALL_PRIOR, 4)[0]
    assert record["analytic_flops"] == analytic
    assert 1.0 < record["flops_per_step"] / analytic < 1.3
    # Adam: two float32 slots per parameter (and a step counter), all on the one device.
    state = record["state_bytes"]
    assert state["optimizer"] == pytest.approx(2 * 4 * record["parameters"], abs=64)
    assert state["optimizer_per_device"] == state["optimizer"]
    assert not record["optimizer_state_sharded"]
    memory = record["memory_per_device"]
    held = state["parameters_per_device"] + state["optimizer_per_device"]
    assert held < memory["argument_bytes"] < held + 1e5  # + the batch, metrics, RNG seeds
    assert memory["peak_bytes"] > memory["argument_bytes"] and memory["temp_bytes"] > 0
    assert record["flops_per_step"] == record["flops_per_device"]


def _record(config, layout, batch, peak_gib, family="tokenizer", devices=8, replicas=8):
    return {
        "config": config,
        "family": family,
        "layout": layout,
        "dtype": "mixed_bfloat16",
        "batch_per_replica": batch,
        "global_batch": batch * replicas,
        "devices": devices,
        "replicas": replicas,
        "parameters": 30e6,
        "flops_per_step": 1e12 * batch * replicas,
        "memory_per_device": {"peak_bytes": peak_gib * scale.GIB},
        "state_bytes": {"parameters_per_device": 1, "optimizer_per_device": 2},
        "optimizer_state_sharded": False,
    }


def test_records_merge_by_key_so_a_matrix_can_be_run_in_parts(tmp_path):
    path = str(tmp_path / "scale.json")
    scale.merge([_record("a", "data8", 1, 1.0), _record("a", "data8", 4, 2.0)], path)
    merged = scale.merge([_record("a", "data8", 4, 3.0), _record("b", "data8", 1, 1.0)], path)
    assert len(merged) == 3 and merged == scale.load(path)
    peaks = {
        (r["config"], r["batch_per_replica"]): r["memory_per_device"]["peak_bytes"] for r in merged
    }
    assert peaks[("a", 4)] == 3.0 * scale.GIB  # replaced, not duplicated


def test_fit_table_gives_the_largest_batch_and_devices_for_the_paper_batch():
    # The tokenizer on a (2, 4) mesh: 2 replicas of 4 devices; the paper's batch is 256.
    # Peak 4 GiB + 6 GiB per example, measured at batches 1 and 16.
    group = [
        _record("t", "model2x4", batch, 4.0 + 6.0 * batch, devices=8, replicas=2)
        for batch in (16, 1)
    ]
    assert scale.fits(group, 9.9) is None
    assert scale.fits(group, 40) == (6, False)
    assert scale.fits(group, 200) == (32, True)  # past the measured batches: extrapolated
    assert scale.fits(group[:1], 200) == (16, False) and scale.fits(group[1:], 9.9) is None
    assert scale.devices_for_paper_batch(group[0], 6) == math.ceil(256 / 6) * 4
    row = scale.fit_table(group).splitlines()[-1]
    # 16 GB = 14.9 GiB: batch 1; 40 GB = 37.3 GiB: 5; 80 GB = 74.5 GiB: 11.
    assert row.endswith("| b1: 1024 dev | b5: 208 dev | b11: 96 dev |"), row


def test_step_estimates_divide_the_paper_batch_flops_by_the_rate():
    record = _record("vim_base", "data8", 2, 1.0, family="prior")  # 1e12 FLOPs per sequence
    estimates = scale.step_estimates(record)
    seconds = 1024 * 1e12 / (scale.ACCELERATORS["A100"] * scale.MFU)
    assert estimates["A100"]["device_seconds_per_step"] == pytest.approx(seconds)
    assert estimates["A100"]["device_days"] == pytest.approx(seconds * 450_000 / 86400)
    assert math.isclose(
        estimates["TPU v4"]["device_seconds_per_step"] * scale.ACCELERATORS["TPU v4"],
        seconds * scale.ACCELERATORS["A100"],
    )
