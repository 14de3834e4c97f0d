"""Quantizer lookup: keras_vim's `VectorQuantizer` vs vector-quantize-pytorch's
`VectorQuantize`, and the same math written directly in the Keras backend.

16 x 1024 vectors of dimension 256, 8192 codes of factorized dimension 32, l2-normalized
(cosine) lookup; inference (quantized vectors, ids and loss) and forward + backward (gradients
of `mean(quantized ** 2) + vq_loss` with respect to the weights and the input).

    KERAS_BACKEND=jax python -m benchmarks.quantizer [--repeats 5]
"""

import argparse
import types

import keras
import numpy as np

from benchmarks.backend import compiled_value_and_grad
from benchmarks.timing import (
    Case,
    best_torch_threads,
    compare,
    environment,
    median,
    paired_speedup,
    write_json,
)

BATCH, LENGTH, DIM, CODES, CODE_DIM, BETA = 16, 1024, 256, 8192, 32, 0.25
VECTORS = BATCH * LENGTH


def inputs():
    return np.random.default_rng(0).standard_normal((BATCH, LENGTH, DIM), dtype=np.float32)


def keras_vim_quantizer():
    from keras_vim.layers import VectorQuantizer

    quantizer = VectorQuantizer(num_codes=CODES, code_dim=CODE_DIM, beta=BETA)
    quantizer.build((None, LENGTH, DIM))
    return quantizer


def _loss(outputs):
    from keras import ops

    return ops.mean(ops.square(outputs["quantized"])) + outputs["vq_loss"]


def keras_vim_case(mode):
    """keras_vim's layer, compiled for the backend as inside a model's compiled step."""
    from keras_vim.utils.compiled import compile_function

    quantizer = keras_vim_quantizer()
    x = keras.ops.convert_to_tensor(inputs())
    if mode == "inference":
        run = compile_function(quantizer, lambda v: quantizer(v, training=False))
        return Case(lambda: run(x), VECTORS, "vectors")
    grad = compiled_value_and_grad(quantizer, lambda v: _loss(quantizer(v, training=True)))
    return Case(lambda: grad(x), VECTORS, "vectors")


def _namespace():
    """The handful of array functions the reference needs, from the backend's own library."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        return types.SimpleNamespace(
            rsqrt=jax.lax.rsqrt, maximum=jnp.maximum, sum=jnp.sum, mean=jnp.mean,
            argmax=lambda x: jnp.argmax(x, axis=-1), take=lambda c, i: c[i],
            stop=jax.lax.stop_gradient, reshape=jnp.reshape, transpose=jnp.transpose,
        )  # fmt: skip
    if backend == "tensorflow":
        import tensorflow as tf

        return types.SimpleNamespace(
            rsqrt=tf.math.rsqrt, maximum=tf.maximum,
            sum=lambda x, axis=None, keepdims=False: tf.reduce_sum(x, axis, keepdims),
            mean=tf.reduce_mean, argmax=lambda x: tf.argmax(x, axis=-1),
            take=lambda c, i: tf.gather(c, i), stop=tf.stop_gradient, reshape=tf.reshape,
            transpose=tf.transpose,
        )  # fmt: skip
    import torch

    return types.SimpleNamespace(
        rsqrt=torch.rsqrt, maximum=lambda x, y: torch.clamp(x, min=y),
        sum=lambda x, axis=None, keepdims=False: (
            x.sum() if axis is None else x.sum(dim=axis, keepdim=keepdims)
        ),
        mean=torch.mean, argmax=lambda x: torch.argmax(x, dim=-1), take=lambda c, i: c[i],
        stop=lambda x: x.detach(), reshape=torch.reshape, transpose=torch.t,
    )  # fmt: skip


def reference_quantizer(ns, params, x):
    """The factorized l2-normalized lookup written with the backend's own array functions:
    what keras_vim's layer computes, without Keras."""
    w_in, b_in, codebook, w_out, b_out = params

    def normalize(v):
        return v * ns.rsqrt(ns.maximum(ns.sum(v * v, axis=-1, keepdims=True), 1e-6))

    latents = normalize(ns.reshape(x, (-1, DIM)) @ w_in + b_in)
    table = normalize(codebook)
    ids = ns.argmax(latents @ ns.transpose(table))
    codes = ns.take(table, ids)
    codebook_loss = ns.mean(ns.sum((ns.stop(latents) - codes) ** 2, axis=-1))
    commitment_loss = ns.mean(ns.sum((latents - ns.stop(codes)) ** 2, axis=-1))
    quantized = (latents + ns.stop(codes - latents)) @ w_out + b_out
    return {
        "quantized": ns.reshape(quantized, (BATCH, LENGTH, DIM)),
        "ids": ids,
        "vq_loss": codebook_loss + BETA * commitment_loss,
    }


def reference_case(mode):
    """The same math in jax.numpy / tf / torch, compiled the backend's own way."""
    from benchmarks.backend import native_function

    quantizer = keras_vim_quantizer()
    params = [
        keras.ops.convert_to_tensor(keras.ops.convert_to_numpy(v))
        for v in (
            quantizer.input_projection.kernel,
            quantizer.input_projection.bias,
            quantizer.codebook,
            quantizer.output_projection.kernel,
            quantizer.output_projection.bias,
        )
    ]
    ns = _namespace()
    x = keras.ops.convert_to_tensor(inputs())
    if mode == "inference":
        run = native_function(lambda p, v: reference_quantizer(ns, p, v))
        return Case(lambda: run(params, x), VECTORS, "vectors")

    def loss(p, v):
        outputs = reference_quantizer(ns, p, v)
        return ns.mean(outputs["quantized"] ** 2) + outputs["vq_loss"]

    grad = native_function(loss, gradient=True)
    return Case(lambda: grad(params, x), VECTORS, "vectors")


def peer_case(mode):
    """vector-quantize-pytorch at the same shapes (eval mode under no_grad for inference)."""
    import torch
    from vector_quantize_pytorch import VectorQuantize

    torch.manual_seed(0)
    quantizer = VectorQuantize(
        dim=DIM, codebook_size=CODES, codebook_dim=CODE_DIM, use_cosine_sim=True,
        commitment_weight=BETA,
    )  # fmt: skip
    x = torch.from_numpy(inputs())
    if mode == "inference":
        quantizer.eval()

        def run():
            with torch.no_grad():
                return quantizer(x)

        return Case(run, VECTORS, "vectors")
    quantizer.train()
    params = [p for p in quantizer.parameters() if p.requires_grad]

    def run_grad():
        v = x.detach().requires_grad_(True)
        quantized, ids, loss = quantizer(v)
        total = quantized.square().mean() + loss.sum()
        return total, torch.autograd.grad(total, [*params, v])

    return Case(run_grad, VECTORS, "vectors")


CASES = {
    ("inference", "keras_vim"): lambda: keras_vim_case("inference"),
    ("inference", "backend_reference"): lambda: reference_case("inference"),
    ("inference", "peer"): lambda: peer_case("inference"),
    ("train", "keras_vim"): lambda: keras_vim_case("train"),
    ("train", "backend_reference"): lambda: reference_case("train"),
    ("train", "peer"): lambda: peer_case("train"),
}
MODES = {"inference": "lookup, inference", "train": "lookup, forward + backward"}


def run(repeats, warmup):
    rows = []
    for mode, title in MODES.items():
        cases = {impl: CASES[(mode, impl)]() for impl in ("keras_vim", "backend_reference", "peer")}
        threads = best_torch_threads(cases["peer"])
        times = compare(cases, repeats=repeats, warmup=warmup)
        rate = {impl: cases[impl].units / median(t) for impl, t in times.items()}
        rows.append(
            {
                "benchmark": f"quantizer {title}",
                "unit": "vectors/s",
                "keras_vim": rate["keras_vim"],
                "peer": rate["peer"],
                "reference": rate["backend_reference"],
                "speedup_vs_peer": paired_speedup(times["keras_vim"], times["peer"]),
                "speedup_vs_reference": paired_speedup(
                    times["keras_vim"], times["backend_reference"]
                ),
                "target_vs_peer": 2.0,
                "target_vs_reference": 1.0,
                "times": times,
                "torch_threads": threads,
            }
        )
        print_row(rows[-1])
    return rows


def print_row(row):
    text = f"{row['benchmark']:<40} keras_vim {row['keras_vim']:10.1f} {row['unit']}"
    text += f" | peer {row['peer']:10.1f} | x{row['speedup_vs_peer']:.2f}"
    if row.get("reference") is not None:
        text += f" | reference {row['reference']:10.1f} | x{row['speedup_vs_reference']:.2f}"
    print(text, flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--output", default=None, help="JSON file (default results/)")
    args = parser.parse_args(argv)
    rows = run(args.repeats, args.warmup)
    output = args.output or f"benchmarks/results/quantizer_{keras.backend.backend()}.json"
    write_json(output, {"environment": environment(), "rows": rows})


if __name__ == "__main__":
    main()
