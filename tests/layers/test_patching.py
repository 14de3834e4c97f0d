import keras
import numpy as np
import pytest
from keras import ops

from keras_vim.layers import PatchEmbedding, Unpatchify
from keras_vim.layers.patching import extract_patches


def test_extract_patches_matches_numpy(rng):
    images = rng.random((2, 8, 12, 3)).astype("float32")
    patches = ops.convert_to_numpy(extract_patches(images, 4))
    assert patches.shape == (2, 2, 3, 48)
    # Patch (row 1, column 2) of image 1, flattened in (y, x, channel) order.
    np.testing.assert_allclose(patches[1, 1, 2], images[1, 4:8, 8:12, :].reshape(-1))


def test_unpatchify_inverts_extract_patches(rng):
    images = rng.random((2, 8, 12, 3)).astype("float32")
    patches = ops.reshape(extract_patches(images, 4), (2, 6, 48))
    restored = Unpatchify(patch_size=4, grid_size=(2, 3), channels=3)(patches)
    np.testing.assert_allclose(ops.convert_to_numpy(restored), images)


def test_patch_embedding_is_linear_projection_of_patches(rng):
    images = rng.random((2, 8, 8, 1)).astype("float32")
    layer = PatchEmbedding(patch_size=4, hidden_dim=5)
    tokens = ops.convert_to_numpy(layer(images))
    assert tokens.shape == (2, 4, 5)
    kernel, bias = (ops.convert_to_numpy(w) for w in layer.projection.weights)
    expected = images[0, 4:8, 0:4, :].reshape(-1) @ kernel + bias  # token 2 = (row 1, col 0)
    np.testing.assert_allclose(tokens[0, 2], expected, rtol=1e-5, atol=1e-6)


def test_patch_embedding_rejects_indivisible_size():
    with pytest.raises(ValueError, match="divisible by patch_size=4"):
        PatchEmbedding(patch_size=4, hidden_dim=5)(np.zeros((1, 10, 8, 1), "float32"))


def test_serialization_round_trip(rng):
    images = rng.random((2, 8, 8, 3)).astype("float32")
    layer = PatchEmbedding(patch_size=4, hidden_dim=6, name="embed")
    outputs = layer(images)
    clone = PatchEmbedding.from_config(layer.get_config())
    clone.build(images.shape)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(ops.convert_to_numpy(clone(images)), ops.convert_to_numpy(outputs))
    unpatch = Unpatchify(4, (2, 2), 3)
    assert keras.layers.deserialize(keras.layers.serialize(unpatch)).get_config() == (
        unpatch.get_config()
    )
