"""Argument and input checks shared by the library, each raising an error that names the
argument and what it expects.

Scalars: `check_integer` and `check_real` accept any `numbers.Integral` / `numbers.Real`
(numpy scalars included, bool excluded) and return a plain Python `int` / `float`. Arrays:
`check_id_range` for integer ids, `check_image_values` for pixels.
"""

import numbers

import numpy as np


def _range_text(minimum, maximum, include_minimum=True, include_maximum=True):
    """`>= 1`, `< 1`, `in [0, 1)`, ... or "" when there are no bounds."""
    if minimum is not None and maximum is not None:
        left = "[" if include_minimum else "("
        right = "]" if include_maximum else ")"
        return f" in {left}{minimum}, {maximum}{right}"
    if minimum is not None:
        return f" {'>=' if include_minimum else '>'} {minimum}"
    if maximum is not None:
        return f" {'<=' if include_maximum else '<'} {maximum}"
    return ""


def _expected(kind, allow_none, bounds):
    return f"{'None or ' if allow_none else ''}{kind}{bounds}"


def check_integer(name, value, minimum=None, maximum=None, allow_none=False):
    """`value` as an `int` if it is an integer (Python or numpy, not bool) in
    `[minimum, maximum]`; else a TypeError (not an integer) or ValueError (out of range).

    Example: `check_integer("top_k", 0, minimum=1)` raises
    "`top_k` must be an integer >= 1, got 0."
    """
    if value is None and allow_none:
        return None
    expected = _expected("an integer", allow_none, _range_text(minimum, maximum))
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be {expected}, got {value!r} ({type(value).__name__}).")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"`{name}` must be {expected}, got {value}.")
    return int(value)


def check_real(
    name,
    value,
    minimum=None,
    maximum=None,
    include_minimum=True,
    include_maximum=True,
    allow_none=False,
):
    """`value` as a `float` if it is a finite real number (Python or numpy, not bool) within
    the bounds; else a TypeError (not a number) or ValueError (NaN, infinite or out of range).

    Example: `check_real("temperature", 0, minimum=0, include_minimum=False)` raises
    "`temperature` must be a finite real number > 0, got 0."
    """
    if value is None and allow_none:
        return None
    bounds = _range_text(minimum, maximum, include_minimum, include_maximum)
    expected = _expected("a finite real number", allow_none, bounds)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be {expected}, got {value!r} ({type(value).__name__}).")
    number = float(value)
    too_low = minimum is not None and (number < minimum if include_minimum else number <= minimum)
    too_high = maximum is not None and (number > maximum if include_maximum else number >= maximum)
    if not np.isfinite(number) or too_low or too_high:
        raise ValueError(f"`{name}` must be {expected}, got {value}.")
    return number


def check_id_range(name, values, upper=None, detail=""):
    """Raises a ValueError unless every entry of the integer array `values` is in
    `[0, upper - 1]` (`>= 0` when `upper` is None); `detail` says where the bound comes from
    (e.g. "vocabulary_size=16")."""
    values = np.asarray(values)
    if not values.size:
        return
    low, high = values.min(), values.max()
    if low < 0 or (upper is not None and high >= upper):
        expected = "integers >= 0" if upper is None else f"in [0, {upper - 1}]"
        detail = f" ({detail})" if detail else ""
        raise ValueError(f"`{name}` must be {expected}{detail}, got values in [{low}, {high}].")


def check_image_values(name, images, tolerance=0.0):
    """Raises unless numpy `images` are uint8, integers in [0, 255] or finite floats in
    [0, 1] (the library's image convention; `tolerance` widens the float range, e.g. for
    resampled images): a TypeError for other dtypes, a ValueError for values out of range,
    NaN or infinite."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return
    if np.issubdtype(images.dtype, np.integer):
        if images.size and (images.min() < 0 or images.max() > 255):
            raise ValueError(
                f"Integer `{name}` must be in [0, 255], got values in "
                f"[{images.min()}, {images.max()}]."
            )
        return
    if "float" in str(images.dtype) and not np.issubdtype(images.dtype, np.floating):
        images = images.astype("float32")  # bfloat16 (ml_dtypes) is no numpy float type
    if not np.issubdtype(images.dtype, np.floating):
        raise TypeError(
            f"`{name}` must be floats in [0, 1] or uint8 in [0, 255], got dtype {images.dtype}."
        )
    if not images.size:
        return
    low, high = images.min(), images.max()
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"Float `{name}` must be finite values in [0, 1], got NaN or infinity.")
    if low < -tolerance or high > 1 + tolerance:
        raise ValueError(
            f"Float `{name}` must be in [0, 1], got values in [{low:.4g}, {high:.4g}] "
            "(divide 8-bit values by 255)."
        )


def check_tokenizer_matches(tokenizer, prior):
    """Raises a ValueError unless `tokenizer` (its `grid_size`, `num_codes`) makes the token
    grids `prior` (its `grid_size`, `vocabulary_size`) models."""
    if tuple(tokenizer.grid_size) != tuple(prior.grid_size):
        raise ValueError(
            f"The tokenizer's grid {tuple(tokenizer.grid_size)} differs from the prior's "
            f"{tuple(prior.grid_size)}."
        )
    if tokenizer.num_codes != prior.vocabulary_size:
        raise ValueError(
            f"The tokenizer has {tokenizer.num_codes} codes but the prior's vocabulary_size is "
            f"{prior.vocabulary_size}."
        )
