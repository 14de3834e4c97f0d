"""Calling a compiled function on batches of one fixed size: pad the last batch, then cut.

A compiled function (`jax.jit`, `tf.function`, a Keras predict step) is traced again for every
new input shape; on JAX each new shape recompiles every op. Functions run over a dataset in
batches therefore get the short last batch padded to the full size (its last row repeated,
so the padding holds valid values) and their outputs cut back to the real rows.
"""

import numpy as np
from keras import ops

from keras_vim.utils.checks import check_integer


def pad_rows(array, size):
    """`array` (numpy) with its last row repeated until it has `size` rows; unchanged when
    it has that many or more."""
    array = np.asarray(array)
    if not len(array):
        raise ValueError("Cannot pad an empty batch: it has no last row to repeat.")
    missing = size - len(array)
    if missing <= 0:
        return array
    return np.concatenate([array, np.repeat(array[-1:], missing, axis=0)])


def cut_rows(outputs, count):
    """The first `count` rows of every array in `outputs` (an array, or a tuple, list or
    dict of arrays and Nones), as numpy."""
    if outputs is None:
        return None
    if isinstance(outputs, dict):
        return {key: cut_rows(value, count) for key, value in outputs.items()}
    if isinstance(outputs, (tuple, list)):
        return type(outputs)(cut_rows(value, count) for value in outputs)
    return ops.convert_to_numpy(outputs)[:count]


def call_padded(function, inputs, batch_size):
    """`function(*inputs)` with each input (numpy arrays of equal length, or None) padded to
    `batch_size` rows by `pad_rows`, and every output cut back to the inputs' length by
    `cut_rows`: the outputs for the real rows, from a call of the full batch's shape.

    Example:
    >>> call_padded(lambda x: x * 2, (np.arange(3),), batch_size=4)
    array([0, 2, 4])
    """
    batch_size = check_integer("batch_size", batch_size, minimum=1)
    lengths = {len(array) for array in inputs if array is not None}
    if len(lengths) != 1:
        raise ValueError(
            f"`inputs` must hold arrays of one length (and Nones), got lengths {sorted(lengths)}."
        )
    (count,) = lengths
    if count > batch_size:
        raise ValueError(f"The batch has {count} rows, more than `batch_size`={batch_size}.")
    padded = [None if array is None else pad_rows(array, batch_size) for array in inputs]
    return cut_rows(function(*padded), count)
