"""Reading tensor values at the API boundary, where that is possible."""

import keras
import numpy as np
from keras import ops


def concrete_numpy(x):
    """`x` as numpy when its values can be read here; None inside jit/tf.function/symbolic.

    Input checks that need values (ranges of ids, pixel values) run on concrete inputs and
    step aside while a backend traces a function, where values are not known yet.
    """
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, keras.KerasTensor):
        return None
    try:
        values = ops.convert_to_numpy(x)
    except Exception:  # Tracers and graph tensors refuse: their values are not known yet.
        return None
    # A spec (e.g. a tf.TensorSpec) can come back wrapped in an object array: no values.
    return None if values.dtype == object else values
