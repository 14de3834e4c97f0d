"""Patch embedding and its inverse: the tokenizer's image <-> token-grid geometry."""

import numbers

import keras
from keras import ops


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _to_pair(value, name):
    """An int or a pair of ints (numpy ones too) as a pair of Python ints."""
    if _is_int(value):
        return (int(value), int(value))
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(map(_is_int, value)):
        return (int(value[0]), int(value[1]))
    raise TypeError(f"`{name}` must be an int or a pair of ints, got {value!r}.")


def extract_patches(images, patch_size):
    """(B, H, W, C) -> (B, H / p, W / p, p * p * C), patch pixels in row-major (py, px, c) order."""
    _, height, width, channels = images.shape
    p = patch_size
    x = ops.reshape(images, (-1, height // p, p, width // p, p, channels))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, height // p, width // p, p * p * channels))


@keras.saving.register_keras_serializable(package="keras_vim")
class PatchEmbedding(keras.layers.Layer):
    """Splits images into non-overlapping patches and projects each to a token (paper section 3.1).

    The linear projection of flattened patches equals a stride-`patch_size` convolution, written
    as reshape + dense so it runs the same on every backend.

    Args:
        patch_size: side of the square patches, in pixels.
        hidden_dim: width of the output tokens.

    Example:
    >>> layer = keras_vim.layers.PatchEmbedding(patch_size=8, hidden_dim=64)
    >>> layer(np.zeros((2, 32, 32, 3))).shape
    (2, 16, 64)
    """

    def __init__(self, patch_size, hidden_dim, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = patch_size
        self.hidden_dim = hidden_dim
        self.projection = keras.layers.Dense(hidden_dim, name="projection", dtype=self.dtype_policy)

    def build(self, input_shape):
        _, height, width, channels = input_shape
        p = self.patch_size
        if height is not None and (height % p or width % p):
            raise ValueError(
                f"PatchEmbedding: image size ({height}, {width}) must be divisible by "
                f"patch_size={p}."
            )
        self.projection.build((None, p * p * channels))

    def call(self, images):
        patches = extract_patches(images, self.patch_size)
        grid_h, grid_w = patches.shape[1], patches.shape[2]
        tokens = self.projection(patches)
        return ops.reshape(tokens, (-1, grid_h * grid_w, self.hidden_dim))

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        p = self.patch_size
        return (batch, (height // p) * (width // p), self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update({"patch_size": self.patch_size, "hidden_dim": self.hidden_dim})
        return config


@keras.saving.register_keras_serializable(package="keras_vim")
class Unpatchify(keras.layers.Layer):
    """Inverse of patch extraction: per-token pixel vectors back to an image.

    Input `(B, h * w, p * p * C)` tokens in raster order, output `(B, h * p, w * p, C)`.

    Args:
        patch_size: side of the square patches, in pixels.
        grid_size: `(h, w)`, the token grid.
        channels: number of image channels `C`.

    Example:
    >>> layer = keras_vim.layers.Unpatchify(patch_size=8, grid_size=(4, 4), channels=3)
    >>> layer(np.zeros((2, 16, 192))).shape
    (2, 32, 32, 3)
    """

    def __init__(self, patch_size, grid_size, channels, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = patch_size
        self.grid_size = _to_pair(grid_size, "grid_size")
        self.channels = channels
        # No weights, so nothing to build; built from the start, so that a model holding it
        # counts as built before its first call (its optimizer is then built before
        # TensorFlow traces the first train step, which is traced once instead of twice).
        self.built = True

    def call(self, tokens):
        p, c = self.patch_size, self.channels
        grid_h, grid_w = self.grid_size
        x = ops.reshape(tokens, (-1, grid_h, grid_w, p, p, c))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, grid_h * p, grid_w * p, c))

    def compute_output_shape(self, input_shape):
        p = self.patch_size
        return (input_shape[0], self.grid_size[0] * p, self.grid_size[1] * p, self.channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "patch_size": self.patch_size,
                "grid_size": list(self.grid_size),
                "channels": self.channels,
            }
        )
        return config
