"""He-normal initialization drawn on the host with numpy, for layers with many kernel shapes."""

import math

import keras
import numpy as np

from keras_vim.utils.checks import check_integer

# Keras' "truncated_normal" variance scaling: the standard deviation of a standard normal
# truncated to [-2, 2], by which the draw is divided to keep the requested variance.
_TRUNCATED_STD = 0.87962566103423978


@keras.saving.register_keras_serializable(package="keras_vim")
class HostHeNormal(keras.initializers.Initializer):
    """Keras' `he_normal` (truncated normal, variance `2 / fan_in`), drawn with numpy.

    Why: on JAX each random initializer compiles once per new weight shape (about 1-2 s each
    on a 2-core CPU), and the discriminator has a dozen kernel shapes, so building it cost
    10-20 s at every construction of a tokenizer, including loading a preset and runs that
    never train the discriminator. A numpy draw compiles nothing, and gives the same weights
    on every backend.

    Args:
        seed: an int for a reproducible draw, or None to draw from numpy's global generator
            (which `keras.utils.set_random_seed` seeds).
    """

    def __init__(self, seed=None):
        self.seed = check_integer("seed", seed, allow_none=True)

    def __call__(self, shape, dtype=None):
        shape = tuple(int(d) for d in shape)
        if not shape:
            raise ValueError("HostHeNormal needs a weight shape with at least one dimension.")
        # Dense (in, out) and convolution (..., in, out) kernels: fan-in is all but the last.
        fan_in = max(1, math.prod(shape[:-1]))
        stddev = math.sqrt(2.0 / fan_in) / _TRUNCATED_STD
        generator = np.random if self.seed is None else np.random.default_rng(self.seed)
        values = generator.standard_normal(shape)
        outside = np.abs(values) > 2.0
        while outside.any():  # resample what falls outside two standard deviations
            values[outside] = generator.standard_normal(int(outside.sum()))
            outside = np.abs(values) > 2.0
        dtype = keras.backend.standardize_dtype(dtype or keras.config.floatx())
        return keras.ops.convert_to_tensor(values * stddev, dtype=dtype)

    def get_config(self):
        return {"seed": self.seed}
