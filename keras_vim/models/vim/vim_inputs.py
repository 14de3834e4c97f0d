"""The VIM task's input checks: token grids, class ids, and what a sampling call asks for.

Every public entry point of `keras_vim.models.VIM` (the forward pass, `fit` / `evaluate` /
`predict` batches, `generate`, `features`, the cache calls) and the functions that take a
prior (`keras_vim.sampling.rejection_sample`, `keras_vim.metrics.probe_features`) check their
ids here, so each rule and its message exist once.
"""

import numbers

import keras
import numpy as np
from keras import ops

from keras_vim.utils.arrays import concrete_numpy
from keras_vim.utils.checked_batches import CheckedInputs
from keras_vim.utils.checks import check_id_range, check_integer

_INPUT_KEYS = ("tokens", "class_ids")


def _as_array(value, name, expected):
    """Nested lists and tuples as numpy; a TypeError naming `name` for what is no array."""
    if isinstance(value, (list, tuple)):
        value = np.asarray(value)
    if not (hasattr(value, "shape") and hasattr(value, "dtype")):
        raise TypeError(f"`{name}` must be {expected}, got {value!r} ({type(value).__name__}).")
    return value


def _dtype_name(x):
    try:
        return keras.backend.standardize_dtype(x.dtype)
    except ValueError:  # strings, objects: not a Keras dtype
        return str(x.dtype)


def _is_array_like(x):
    return isinstance(x, (list, np.ndarray)) or (
        hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, keras.KerasTensor)
    )


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class VIMInputs(CheckedInputs):
    """Input checks of a prior with `grid_size`, `sequence_length`, `vocabulary_size`,
    `num_classes` and `null_class_id`."""

    def _unpack_inputs(self, inputs):
        """`tokens`, `(tokens, class_ids)` or `{"tokens", "class_ids"}` -> (tokens, class_ids)."""
        if isinstance(inputs, dict):
            unknown = sorted(set(inputs) - set(_INPUT_KEYS))
            if unknown or "tokens" not in inputs:
                raise ValueError(
                    f"Dict inputs need the key 'tokens' and optionally 'class_ids'; got keys "
                    f"{sorted(inputs)}."
                )
            return inputs["tokens"], inputs.get("class_ids")
        # A list is a `[tokens, class_ids]` pair only when its first entry is an array of rank
        # >= 2; otherwise it is nested lists of token ids.
        if isinstance(inputs, tuple) or (
            isinstance(inputs, list)
            and len(inputs) in (1, 2)
            and len(getattr(inputs[0], "shape", ())) >= 2
        ):
            if len(inputs) == 1:
                return inputs[0], None
            if len(inputs) == 2:
                return inputs[0], inputs[1]
            raise ValueError(
                f"Tuple inputs must be `(tokens,)` or `(tokens, class_ids)`, got {len(inputs)} "
                "elements."
            )
        return inputs, None

    def check_tokens(self, tokens, name="tokens", max_length=None):
        """Validates token ids `(B, h, w)` or a raster-order prefix `(B, T)`, `T <= h * w`."""
        tokens = _as_array(tokens, name, "an integer array of shape (batch, h, w)")
        max_length = self.sequence_length if max_length is None else max_length
        shape = tuple(tokens.shape)
        if len(shape) == 3:
            # Unknown sizes (None, in a dataset's element spec) are left to the batches.
            if any(size not in (None, want) for size, want in zip(shape[1:], self.grid_size)):
                raise ValueError(
                    f"`{name}` of rank 3 must have shape (batch, {self.grid_size[0]}, "
                    f"{self.grid_size[1]}) for this model's grid, got {shape}."
                )
        elif len(shape) == 2:
            if shape[1] is not None and not 1 <= shape[1] <= max_length:
                raise ValueError(
                    f"`{name}` has length {shape[1]}, but this model's context holds at most "
                    f"{max_length} tokens (grid {self.grid_size[0]}x{self.grid_size[1]}) and at "
                    "least 1."
                )
        else:
            raise ValueError(
                f"`{name}` must have shape (batch, h, w) or (batch, length), got {shape}."
            )
        dtype = _dtype_name(tokens)
        if "int" not in dtype:
            raise TypeError(f"`{name}` must be an integer array, got dtype {dtype!r}.")
        values = concrete_numpy(tokens)
        if values is not None:
            check_id_range(
                name, values, self.vocabulary_size, f"vocabulary_size={self.vocabulary_size}"
            )
        return tokens

    def check_class_ids(self, class_ids, batch_size=None, name="class_ids", required=True):
        """Validates class ids `(B,)` against `num_classes` (the null class id is allowed)."""
        if self.num_classes is None:
            if class_ids is not None:
                raise ValueError(
                    f"`{name}` was given to an unconditional VIM (num_classes=None). Build the "
                    "model with `num_classes=...` for class-conditional training and sampling, "
                    "or pass token ids alone."
                )
            return None
        if class_ids is None:
            if required:
                raise ValueError(
                    f"This VIM is class-conditional (num_classes={self.num_classes}): pass "
                    f"`{name}` (one int per example; {self.null_class_id} is the null class)."
                )
            return None
        if _is_int(class_ids):
            class_ids = np.asarray(class_ids)
        class_ids = _as_array(class_ids, name, "an int or an integer array of shape (batch,)")
        dtype = _dtype_name(class_ids)
        if "int" not in dtype:
            raise TypeError(f"`{name}` must be integers, got dtype {dtype!r}.")
        shape = tuple(class_ids.shape)
        if len(shape) == 2 and shape[1] == 1:
            class_ids = ops.reshape(class_ids, (-1,))
            shape = (shape[0],)
        if len(shape) != 1:
            raise ValueError(f"`{name}` must have shape (batch,), got {shape}.")
        if batch_size is not None and shape[0] is not None and shape[0] != batch_size:
            raise ValueError(
                f"`{name}` has {shape[0]} entries but the batch has {batch_size} examples."
            )
        values = concrete_numpy(class_ids)
        if values is not None:
            detail = (
                f"num_classes={self.num_classes}: the classes 0..{self.num_classes - 1} and "
                f"the null class {self.null_class_id}"
            )
            check_id_range(name, values, self.num_classes + 1, detail)
        return class_ids

    def check_sampling_request(self, num_samples=None, class_ids=None):
        """What a sampling call asks for: `(class_ids, num_samples)`, the class ids as an
        int32 numpy array `(num_samples,)` (None for an unconditional prior).

        `num_samples` is required for an unconditional prior; for a class-conditional one it
        is optional, and with an int `class_ids` it repeats that class.
        """
        num_samples = check_integer("num_samples", num_samples, minimum=1, allow_none=True)
        if self.num_classes is None:
            self.check_class_ids(class_ids)
            if num_samples is None:
                raise ValueError("`num_samples` is required for an unconditional VIM.")
            return None, num_samples
        if class_ids is None:
            self.check_class_ids(None)
        if _is_int(class_ids):
            class_ids = np.full((num_samples or 1,), class_ids, "int32")
        class_ids = np.asarray(ops.convert_to_numpy(self.check_class_ids(class_ids)), "int32")
        if num_samples is not None and num_samples != len(class_ids):
            raise ValueError(
                f"`num_samples`={num_samples} differs from the {len(class_ids)} `class_ids`."
            )
        if not len(class_ids):
            raise ValueError("`class_ids` is empty.")
        return class_ids, len(class_ids)

    def _check_arrays(self, x, y):
        """Checks in-memory data whole (see `CheckedInputs`); other inputs pass."""
        if x is None or not (isinstance(x, (dict, tuple)) or _is_array_like(x)):
            return
        tokens, class_ids = self._unpack_inputs(x)
        if y is not None:
            if class_ids is not None:
                raise ValueError("Class ids were given both in `x` and as `y`.")
            class_ids = y
        tokens = self.check_tokens(tokens)
        self.check_class_ids(class_ids, tokens.shape[0])

    def _check_batch(self, batch):
        """Checks one batch of a dataset or generator as the steps would receive it."""
        (inputs,) = self._as_model_inputs(batch)
        tokens, class_ids = self._unpack_inputs(inputs)
        tokens = self.check_tokens(tokens)
        self.check_class_ids(class_ids, tokens.shape[0])
