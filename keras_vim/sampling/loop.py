"""Compiling a generation function once per backend: the one backend switch of sampling.

The decoding loop itself is `keras.ops.fori_loop` (`jax.lax.fori_loop`, `tf.while_loop`, or a
Python loop on PyTorch, which runs eagerly anyway); this module wraps the whole function:

- JAX: `jax.jit`, with the model's variables passed in as arguments and mapped through a
  `keras.StatelessScope`, so new weights (after more training) need no re-tracing.
- TensorFlow: `tf.function`.
- PyTorch: eager under `torch.no_grad()`.
"""

import keras


def compile_function(model, function):
    """Returns `function(*tensors)` compiled for the current backend, reading `model`'s weights.

    `function` must be a pure function of tensors (Python constants are baked in) that reads
    no variables other than `model.variables`.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        def stateless(variable_values, *args):
            mapping = list(zip(model.variables, variable_values))
            with keras.StatelessScope(state_mapping=mapping):
                return function(*args)

        jitted = jax.jit(stateless)

        def run_jax(*args):
            return jitted([variable.value for variable in model.variables], *args)

        return run_jax
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(function)
    if backend == "torch":
        import torch

        def run_torch(*args):
            with torch.no_grad():
                return function(*args)

        return run_torch
    raise NotImplementedError(f"No compiled generation for the {backend!r} backend.")
