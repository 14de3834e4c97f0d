"""Sampling filters over logits (temperature, top-k, top-p) and classifier-free guidance.

Pure `keras.ops`: they run unchanged inside the compiled generation loop of every backend.
Filtered-out entries are set to `-inf`, so a softmax gives them probability exactly 0.
`temperature`, `p` and the guidance `scale` may be Python numbers (checked) or scalar tensors
(so that a compiled loop need not be rebuilt when they change); `k` is a Python int.
"""

import numbers

from keras import ops

from keras_vim.backend_ops import kth_largest
from keras_vim.utils.checks import check_integer, check_real


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_sampling_args(vocabulary_size, temperature=1.0, top_k=None, top_p=None):
    """Validates sampling settings (numpy scalars welcome); returns them as Python numbers.
    Raises a TypeError or ValueError naming the bad argument. `top_k` is bounded by
    `vocabulary_size` unless that is None."""
    temperature = check_real("temperature", temperature, minimum=0, include_minimum=False)
    top_k = check_integer("top_k", top_k, minimum=1, maximum=vocabulary_size, allow_none=True)
    top_p = check_real("top_p", top_p, minimum=0, maximum=1, include_minimum=False, allow_none=True)
    return temperature, top_k, top_p


def apply_temperature(logits, temperature):
    """Divides logits by `temperature` (> 0): below 1 sharpens, above 1 flattens."""
    logits = ops.cast(logits, "float32")
    if _is_number(temperature) or temperature is None or isinstance(temperature, bool):
        temperature = check_real("temperature", temperature, minimum=0, include_minimum=False)
        if temperature == 1:
            return logits
    return logits / ops.cast(temperature, "float32")


def top_k_filter(logits, k):
    """Keeps the `k` largest logits of the last axis; the others become `-inf`.

    Entries tied with the k-th largest value are all kept, so ties can keep more than `k`.

    Example:
    >>> top_k_filter(np.log([[0.1, 0.6, 0.3]]), 2)  # -> [[-inf, log 0.6, log 0.3]]
    """
    logits = ops.cast(logits, "float32")
    vocabulary_size = logits.shape[-1]
    k = check_integer("k", k, minimum=1)
    if vocabulary_size is not None and k >= vocabulary_size:
        return logits
    return ops.where(logits >= kth_largest(logits, k), logits, float("-inf"))


def top_p_filter(logits, p):
    """Nucleus filter: keeps the smallest set of most likely entries whose probabilities sum to
    at least `p` (always at least the most likely one); the others become `-inf`.

    An entry is kept when the probability mass of the entries strictly more likely than it is
    below `p`. Entries tied with the last kept one are kept too.

    Example:
    >>> top_p_filter(np.log([[0.5, 0.3, 0.15, 0.05]]), 0.75)  # keeps 0.5 and 0.3
    """
    logits = ops.cast(logits, "float32")
    if _is_number(p) or p is None or isinstance(p, bool):
        p = check_real("p", p, minimum=0, maximum=1, include_minimum=False)
        if p == 1:
            return logits
    else:
        p = ops.cast(p, "float32")
    sorted_logits = -ops.sort(-logits, axis=-1)
    sorted_probabilities = ops.softmax(sorted_logits, axis=-1)
    mass_before = ops.cumsum(sorted_probabilities, axis=-1) - sorted_probabilities
    num_kept = ops.sum(ops.cast(mass_before < p, "int32"), axis=-1, keepdims=True)
    num_kept = ops.maximum(num_kept, 1)
    threshold = ops.take_along_axis(sorted_logits, num_kept - 1, axis=-1)
    return ops.where(logits >= threshold, logits, float("-inf"))


def classifier_free_guidance(conditional_logits, unconditional_logits, scale):
    """`unconditional + scale * (conditional - unconditional)` (Ho & Salimans, 2022).

    `scale=1` gives the conditional logits, `scale=0` the unconditional ones; larger scales
    follow the class more closely at the cost of diversity.
    """
    conditional_logits = ops.cast(conditional_logits, "float32")
    unconditional_logits = ops.cast(unconditional_logits, "float32")
    if not _is_number(scale):
        scale = ops.cast(scale, "float32")
    return unconditional_logits + scale * (conditional_logits - unconditional_logits)


def filter_logits(logits, temperature=1.0, top_k=None, top_p=None):
    """Temperature, then top-k, then top-p: the logits the next token is drawn from."""
    logits = apply_temperature(logits, temperature)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    return logits
