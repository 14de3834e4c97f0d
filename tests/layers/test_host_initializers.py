import keras
import numpy as np
import pytest

from keras_vim.layers.discriminator import StyleGANDiscriminator
from keras_vim.layers.host_initializers import HostHeNormal


@pytest.mark.parametrize("shape", [(3, 3, 16, 32), (256, 64)])
def test_variance_is_he_normal_and_draws_are_truncated(shape):
    values = keras.ops.convert_to_numpy(HostHeNormal(seed=0)(shape))
    assert values.shape == shape and values.dtype == np.float32
    fan_in = int(np.prod(shape[:-1]))
    # The truncated draw is rescaled so that the variance is He's 2 / fan_in.
    np.testing.assert_allclose(values.std(), np.sqrt(2.0 / fan_in), rtol=0.05)
    bound = 2.0 * np.sqrt(2.0 / fan_in) / 0.87962566103423978
    assert np.abs(values).max() <= bound * (1 + 1e-6)
    assert abs(values.mean()) < 0.05 * values.std()


def test_matches_keras_he_normal_in_distribution():
    ours = keras.ops.convert_to_numpy(HostHeNormal(seed=1)((64, 4096))).ravel()
    keras_draw = keras.ops.convert_to_numpy(keras.initializers.HeNormal(seed=1)((64, 4096))).ravel()
    quantiles = [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]
    np.testing.assert_allclose(
        np.quantile(ours, quantiles), np.quantile(keras_draw, quantiles), atol=0.01
    )


def test_seeds_and_global_seed_reproduce():
    a, b = HostHeNormal(seed=3)((8, 8)), HostHeNormal(seed=3)((8, 8))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    c = HostHeNormal(seed=4)((8, 8))
    assert not np.allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(c))

    def discriminator_kernels():
        keras.utils.set_random_seed(7)
        layer = StyleGANDiscriminator(filters=4, max_filters=8)
        layer.build((None, 16, 16, 1))
        return [keras.ops.convert_to_numpy(w) for w in layer.weights if w.ndim == 4]

    first, second = discriminator_kernels(), discriminator_kernels()
    assert len(first) > 3
    for x, y in zip(first, second):
        np.testing.assert_array_equal(x, y)
    # Each convolution draws its own kernel, not one shared draw.
    assert not np.allclose(first[1].ravel()[:16], first[2].ravel()[:16])


def test_dtype_and_config_round_trip():
    init = HostHeNormal(seed=5)
    assert keras.backend.standardize_dtype(init((4, 4), dtype="bfloat16").dtype) == "bfloat16"
    restored = keras.initializers.deserialize(keras.initializers.serialize(init))
    assert isinstance(restored, HostHeNormal) and restored.seed == 5


def test_bad_arguments_raise():
    with pytest.raises(TypeError, match="seed"):
        HostHeNormal(seed=1.5)
    with pytest.raises(ValueError, match="shape"):
        HostHeNormal()(())
