import numpy as np
from keras import ops

from keras_vim.layers import ViTDecoder, ViTEncoder


def test_encoder_decoder_shapes_and_config_round_trip(rng):
    images = rng.random((2, 16, 8, 3)).astype("float32")
    encoder = ViTEncoder((16, 8), 4, 16, 1, 2, 32, patch_norm=True)
    latents = encoder(images)
    assert tuple(latents.shape) == (2, 8, 16)
    decoder = ViTDecoder((16, 8), 4, 6, 16, 1, 2, 32)
    assert tuple(decoder(latents).shape) == (2, 16, 8, 6)
    for layer, inputs in ((encoder, images), (decoder, latents)):
        clone = type(layer).from_config(layer.get_config())
        clone.build(inputs.shape)
        clone.set_weights(layer.get_weights())
        np.testing.assert_allclose(
            ops.convert_to_numpy(clone(inputs)), ops.convert_to_numpy(layer(inputs)), atol=1e-6
        )


def test_encoder_centres_pixels():
    # The patch embedding sees 2x - 1: [0, 1] pixels arrive centred in [-1, 1].
    encoder = ViTEncoder(8, 4, 16, 1, 2, 32)
    encoder.build((None, 8, 8, 1))
    seen = []
    original = encoder.patch_embedding.call
    encoder.patch_embedding.call = lambda x: seen.append(ops.convert_to_numpy(x)) or original(x)
    encoder(np.array([0.0, 0.5, 1.0, 0.25] * 16, "float32").reshape(1, 8, 8, 1))
    np.testing.assert_allclose(seen[0].ravel(), [-1.0, 0.0, 1.0, -0.5] * 16, atol=1e-7)
