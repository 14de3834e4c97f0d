"""Compiling a function of a model's weights once, and one cache of such functions.

Models (`VIM.generate`, `VitVQGAN.encode` / `decode`), metrics and data pipelines run
inference functions many times; each is compiled once per model and setting with
`compile_function` (`jax.jit` / `tf.function` / eager under `torch.no_grad()`; its backend
branch lives in `keras_vim.backend_ops` with the library's other backend-specific code).
Loops inside such a function are `keras.ops.fori_loop` (`jax.lax.fori_loop`,
`tf.while_loop`, or a Python loop on PyTorch).
"""

from keras_vim.backend_ops import compile_function

__all__ = ["compile_function", "compiled_function"]


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
