"""Learned 2D positional embedding for a raster-ordered token grid."""

import keras
from keras import ops

from keras_vim.layers.patching import _to_pair


@keras.saving.register_keras_serializable(package="keras_vim")
class PositionEmbedding2D(keras.layers.Layer):
    """Adds a learned embedding of each token's (row, column) to a raster-ordered sequence.

    The embedding of position `t` is `row[t // w] + column[t % w]`: a learned 2D positional
    embedding (paper section 3.2) with `h + w` instead of `h * w` vectors. `start_index` lets an
    autoregressive decoder embed one new position at a time.

    Args:
        grid_size: `(h, w)` of the token grid (an int means square).
        initializer_range: standard deviation of the normal initializer.

    Example:
    >>> layer = keras_vim.layers.PositionEmbedding2D(grid_size=(4, 4))
    >>> layer(np.zeros((2, 16, 8))).shape
    (2, 16, 8)
    """

    def __init__(self, grid_size, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.grid_size = _to_pair(grid_size, "grid_size")
        self.initializer_range = initializer_range

    def build(self, input_shape):
        dim = input_shape[-1]
        init = keras.initializers.RandomNormal(stddev=self.initializer_range)
        self.row_embedding = self.add_weight(
            shape=(self.grid_size[0], dim), initializer=init, name="row_embedding"
        )
        self.column_embedding = self.add_weight(
            shape=(self.grid_size[1], dim), initializer=init, name="column_embedding"
        )

    def position_embeddings(self):
        """All `h * w` position vectors in raster order, shape `(h * w, dim)`."""
        grid = self.row_embedding[:, None, :] + self.column_embedding[None, :, :]
        return ops.reshape(grid, (self.grid_size[0] * self.grid_size[1], -1))

    def call(self, inputs, start_index=0):
        length = inputs.shape[1]
        table = ops.cast(self.position_embeddings(), inputs.dtype)
        if isinstance(start_index, int) and start_index == 0:
            return inputs + table[None, :length]
        positions = ops.slice(table, (start_index, 0), (length, table.shape[-1]))
        return inputs + positions[None]

    def get_config(self):
        config = super().get_config()
        config.update(
            {"grid_size": list(self.grid_size), "initializer_range": self.initializer_range}
        )
        return config
