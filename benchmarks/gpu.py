"""On one accelerator: the `vim_base` training step's MFU in bfloat16 and the ViT-VQGAN
(`vit_vqgan_bb`) GAN step's images/s, to set beside `benchmarks/scale.py`'s estimates.

Not yet run on a GPU (none was lent to the session that wrote it). One command:

    KERAS_BACKEND=jax python -m benchmarks.gpu               # on the GPU; results/gpu.json
    KERAS_BACKEND=jax python -m benchmarks.gpu --prior vim_tiny --tokenizer vit_vqgan_tiny \
        --prior-batch 2 --tokenizer-batch 2 --steps 2 --peak-tflops 1   # CPU smoke check

MFU = the step's FLOPs / its time / the device's dense bf16 peak. The prior's FLOPs are the
analytic count of `benchmarks/flops.py` (matmuls and attention, forward + 2x backward: the usual
MFU convention, no rematerialisation counted); XLA's own count of the compiled step is recorded
beside it. The peak comes from `--peak-tflops` or the device name (`PEAKS`).
"""

import argparse
import json
import os
import time

import keras
import numpy as np

from benchmarks.scale import (
    compile_paper_tokenizer,
    merge,
    preset_config,
    prior_analytic_flops,
)
from benchmarks.timing import environment

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "gpu.json")
# Dense bf16 TFLOP/s by `jax.devices()[0].device_kind` substring (vendor data sheets).
PEAKS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0}


def device_peak(kind, override=None):
    if override is not None:
        return override * 1e12
    for name, tflops in PEAKS.items():
        if name.lower() in kind.lower():
            return tflops * 1e12
    return None


def time_steps(model, batch, steps):
    """Seconds per `train_on_batch` after two warm-up steps (the first compiles)."""
    for _ in range(2):
        model.train_on_batch(*batch)
    start = time.perf_counter()
    for _ in range(steps):
        logs = model.train_on_batch(*batch, return_dict=True)
    seconds = (time.perf_counter() - start) / steps  # the logs are read back: synchronised
    return seconds, {k: float(v) for k, v in logs.items()}


def device_peak_bytes():
    """The allocator's peak on the first device (GPU/TPU), to check `scale.py`'s CPU-compiled
    memory estimate against; None where the backend keeps no such count (CPU)."""
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    return stats.get("peak_bytes_in_use")


def xla_flops(model, batch):
    """XLA's FLOP count of the model's compiled train step (Keras' JAX train function)."""
    import jax

    state = (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in model.optimizer.variables],
        [v.value for v in model.metrics_variables],
    )
    compiled = jax.jit(model.train_step).lower(state, batch).compile()
    analysis = compiled.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
    return float(analysis.get("flops", 0.0))


def measure_prior(name, batch_size, steps, peak):
    from keras_vim.models import VIM
    from keras_vim.training.vim_schedules import vim_optimizer

    config = preset_config(name)
    model = VIM(**config)
    model.compile(optimizer=vim_optimizer())
    rng = np.random.default_rng(0)
    grid = model.grid_size
    tokens = rng.integers(0, config["vocabulary_size"], (batch_size, *grid)).astype("int32")
    classes = rng.integers(0, config["num_classes"], (batch_size,)).astype("int32")
    seconds, logs = time_steps(model, (tokens, classes), steps)
    analytic, tokens_per_step = prior_analytic_flops(config, batch_size)
    return {
        "benchmark": "prior train step",
        "config": name,
        "batch": batch_size,
        "seconds_per_step": seconds,
        "tokens_per_second": tokens_per_step / seconds,
        "analytic_flops_per_step": analytic,
        "xla_flops_per_step": xla_flops(model, (tokens, classes)),
        "mfu": None if peak is None else analytic / seconds / peak,
        "final_logs": logs,
    }


def measure_tokenizer(name, batch_size, steps):
    from keras_vim.models import VitVQGAN

    config = preset_config(name)
    model = VitVQGAN(**config)
    compile_paper_tokenizer(model)
    size = model.image_size
    images = np.random.default_rng(0).random((batch_size, *size, model.channels), "float32")
    seconds, logs = time_steps(model, (images,), steps)
    return {
        "benchmark": "tokenizer GAN train step",
        "config": name,
        "batch": batch_size,
        "seconds_per_step": seconds,
        "images_per_second": batch_size / seconds,
        "xla_flops_per_step": xla_flops(model, (images,)),
        "final_logs": logs,
    }


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prior", default="vim_base")
    parser.add_argument("--tokenizer", default="vit_vqgan_bb")
    parser.add_argument("--prior-batch", type=int, default=8)
    parser.add_argument("--tokenizer-batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10, help="Timed steps after 2 warm-up.")
    parser.add_argument("--peak-tflops", type=float, default=None, help="bf16 peak override.")
    parser.add_argument(
        "--models",
        nargs="+",
        choices=("prior", "tokenizer"),
        default=["prior", "tokenizer"],
        help="One per process for each one's own device_peak_bytes (the peak is the process's).",
    )
    parser.add_argument("--output", default=RESULTS)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if keras.backend.backend() != "jax":
        raise SystemExit("benchmarks.gpu runs on KERAS_BACKEND=jax.")
    import jax

    keras.config.set_dtype_policy("mixed_bfloat16")
    kind = jax.devices()[0].device_kind
    peak = device_peak(kind, args.peak_tflops)
    records = []
    measures = {
        "prior": lambda: measure_prior(args.prior, args.prior_batch, args.steps, peak),
        "tokenizer": lambda: measure_tokenizer(args.tokenizer, args.tokenizer_batch, args.steps),
    }
    for name in args.models:
        record = measures[name]()
        record.update(
            device_peak_bytes=device_peak_bytes(),  # the process's peak so far
            device=kind,
            peak_flops=peak,
            dtype="mixed_bfloat16",
            gpu=True,  # a key of its own in the merged JSON
            environment=environment(),
        )
        records.append(record)
        print(json.dumps({k: v for k, v in record.items() if k != "environment"}), flush=True)
    merge(records, args.output)


if __name__ == "__main__":
    main()
