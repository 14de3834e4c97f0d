"""Compiling a function of a model's weights once per backend, and one cache of such functions.

Models (`VIM.generate`, `VitVQGAN.encode` / `decode`), metrics and data pipelines run
inference functions many times; each is compiled once per model and setting:

- JAX: `jax.jit`, with the model's variables passed in as arguments and mapped through a
  `keras.StatelessScope`, so new weights (after more training) need no re-tracing.
- TensorFlow: `tf.function`.
- PyTorch: eager under `torch.no_grad()` (`keras_vim.backend_ops.compile_step` compiles the
  per-token step of a sampling loop where that pays).

Loops inside such a function are `keras.ops.fori_loop` (`jax.lax.fori_loop`, `tf.while_loop`,
or a Python loop on PyTorch).
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
    raise NotImplementedError(f"No compiled functions for the {backend!r} backend.")


class _CompiledFunctions:
    """A model's compiled functions by key. A plain object, not a dict: Keras would track a
    dict attribute of a layer (and walk it when saving)."""

    def __init__(self):
        self.functions = {}


def compiled_function(model, key, make_function):
    """`compile_function(model, make_function())`, built on the first call with `key` and
    kept on `model` (so it goes when the model goes).

    Args:
        model: the Keras model (or layer) whose variables the function reads.
        key: hashable; everything the function bakes in as a Python constant (batch size,
            static settings, dtype policy) belongs in it.
        make_function: no arguments -> the pure function of tensors to compile.
    """
    cache = model.__dict__.get("_compiled_functions")
    if cache is None:
        cache = model._compiled_functions = _CompiledFunctions()
    if key not in cache.functions:
        cache.functions[key] = compile_function(model, make_function())
    return cache.functions[key]
