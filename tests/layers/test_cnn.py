import keras
import numpy as np
import pytest
from keras import ops

from keras_vim.layers import CNNDecoder, CNNEncoder, ResidualConvBlock
from keras_vim.layers.cnn import check_downsampling


def test_residual_block_adds_its_input_or_a_projection(rng):
    x = rng.standard_normal((2, 4, 4, 8)).astype("float32")
    same = ResidualConvBlock(8)
    same.build(x.shape)
    assert same.shortcut is None
    # With the second conv zeroed the block is the identity: the residual path is exact.
    same.conv_2.kernel.assign(np.zeros(same.conv_2.kernel.shape, "float32"))
    np.testing.assert_allclose(ops.convert_to_numpy(same(x)), x, atol=1e-6)
    wider = ResidualConvBlock(12)
    assert tuple(wider(x).shape) == (2, 4, 4, 12)
    assert tuple(wider.shortcut.kernel.shape) == (1, 1, 8, 12)


def test_encoder_downsamples_to_one_latent_per_patch(rng):
    encoder = CNNEncoder((16, 8), 4, 4, (1, 2, 2), 1, 6)
    latents = encoder(rng.random((2, 16, 8, 1)).astype("float32"))
    assert tuple(latents.shape) == (2, 4 * 2, 6)
    # Two stride-2 convs between the levels: the 3 levels of (1, 2, 2) x 4 channels.
    strides = [layer.strides for stage in encoder.levels for layer in stage if "down" in layer.name]
    assert strides == [(2, 2), (2, 2)]


def test_decoder_upsamples_to_the_image(rng):
    decoder = CNNDecoder(16, 4, 2, 4, (1, 2, 2), 1, 6)
    out = decoder(rng.standard_normal((3, 16, 6)).astype("float32"))
    assert tuple(out.shape) == (3, 16, 16, 2)


@pytest.mark.parametrize(
    "patch_size, multipliers, match",
    [
        (6, (1, 2, 2), "power of 2"),
        (4, (1, 2), r"3 positive ints for `patch_size`=4"),
        (4, (1, 0, 2), r"`channel_multipliers\[1\]` must be an integer >= 1, got 0"),
        (0, (1,), r"`patch_size` must be an integer >= 1, got 0"),
    ],
)
def test_bad_downsampling_is_refused(patch_size, multipliers, match):
    with pytest.raises(ValueError, match=match):
        CNNEncoder(16, patch_size, 4, multipliers, 1, 6)


@pytest.mark.parametrize(
    "patch_size, multipliers, match",
    [
        (4.0, (1, 2, 2), r"`patch_size` must be an integer >= 1, got 4\.0"),
        (True, (1,), r"`patch_size` must be an integer >= 1, got True"),
        (4, (1, 2.5, 2), r"`channel_multipliers\[1\]` must be an integer >= 1, got 2\.5"),
    ],
)
def test_non_integer_downsampling_is_a_type_error(patch_size, multipliers, match):
    with pytest.raises(TypeError, match=match):
        check_downsampling(patch_size, multipliers)


def test_config_round_trip(rng):
    encoder = CNNEncoder(16, 4, 4, (1, 2, 2), 1, 6, name="encoder")
    images = rng.random((1, 16, 16, 1)).astype("float32")
    expected = ops.convert_to_numpy(encoder(images))
    clone = CNNEncoder.from_config(encoder.get_config())
    clone.build(images.shape)
    clone.set_weights(encoder.get_weights())
    np.testing.assert_allclose(ops.convert_to_numpy(clone(images)), expected, atol=1e-6)
    assert keras.saving.get_registered_object("keras_vim>CNNDecoder") is CNNDecoder
