"""The per-backend pieces of the benchmarks: compiled gradients of a Keras layer, and the
float32 matmul peak of the machine (in the active Keras backend and in PyTorch)."""

import time

import keras
import numpy as np


def compiled_value_and_grad(layer, loss_fn):
    """`f(x) -> (loss, grads)`: the gradients of `loss_fn(x)` with respect to the trainable
    weights of `layer` and to `x`, compiled for the backend (`jax.jit`, `tf.function`; eager
    autograd on PyTorch, as Keras' own PyTorch trainer runs)."""
    backend = keras.backend.backend()
    trainable = layer.trainable_variables
    if backend == "jax":
        import jax

        others = [v for v in layer.variables if not v.trainable]

        def loss_of(values, x, other_values):
            mapping = list(zip(trainable, values)) + list(zip(others, other_values))
            with keras.StatelessScope(state_mapping=mapping):
                return loss_fn(x)

        grad = jax.jit(jax.value_and_grad(loss_of, argnums=(0, 1)))

        def run_jax(x):
            return grad([v.value for v in trainable], x, [v.value for v in others])

        return run_jax
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function
        def run_tf(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = loss_fn(x)
            return loss, tape.gradient(loss, [v.value for v in trainable] + [x])

        return lambda x: run_tf(keras.ops.convert_to_tensor(x))
    if backend == "torch":
        import torch

        def run_torch(x):
            x = x.detach().requires_grad_(True)
            loss = loss_fn(x)
            grads = torch.autograd.grad(loss, [v.value for v in trainable] + [x])
            return loss, grads

        return run_torch
    raise NotImplementedError(backend)


def _best_rate(run, flops, repeats):
    run()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return flops / best


def matmul_peak(size=2048, repeats=8, backend=None):
    """FLOP/s of a `size x size` float32 matmul in `backend` (default the Keras backend).

    The best of `repeats`: the peak the machine reached, the denominator of a utilisation.
    """
    backend = backend or keras.backend.backend()
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    flops = 2.0 * size**3
    if backend == "jax":
        import jax

        a, b = jax.device_put(a), jax.device_put(b)
        product = jax.jit(lambda x, y: x @ y)
        return _best_rate(lambda: product(a, b).block_until_ready(), flops, repeats)
    if backend == "tensorflow":
        import tensorflow as tf

        a, b = tf.constant(a), tf.constant(b)
        product = tf.function(tf.matmul)
        return _best_rate(lambda: product(a, b).numpy(), flops, repeats)
    if backend == "torch":
        import torch

        a, b = torch.from_numpy(a), torch.from_numpy(b)
        return _best_rate(lambda: torch.mm(a, b), flops, repeats)
    raise NotImplementedError(backend)


def native_function(fn, gradient=False):
    """`fn(params, x)` compiled with the backend's own tools, without Keras.

    With `gradient=True` the result computes `(fn(params, x), d fn / d(params, x))` for a
    scalar `fn`.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.jit(jax.value_and_grad(fn, argnums=(0, 1)) if gradient else fn)
    if backend == "tensorflow":
        import tensorflow as tf

        if not gradient:
            return tf.function(fn)

        @tf.function
        def run_tf(params, x):
            with tf.GradientTape() as tape:
                tape.watch(params)
                tape.watch(x)
                value = fn(params, x)
            return value, tape.gradient(value, [params, x])

        return run_tf
    if backend == "torch":
        import torch

        if not gradient:

            def run_no_grad(params, x):
                with torch.no_grad():
                    return fn(params, x)

            return run_no_grad

        def run_torch(params, x):
            params = [p.detach().requires_grad_(True) for p in params]
            x = x.detach().requires_grad_(True)
            value = fn(params, x)
            return value, torch.autograd.grad(value, [*params, x])

        return run_torch
    raise NotImplementedError(backend)
