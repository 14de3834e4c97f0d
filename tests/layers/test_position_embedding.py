import numpy as np
from keras import ops

from keras_vim.layers import PositionEmbedding2D


def test_embedding_is_row_plus_column():
    layer = PositionEmbedding2D(grid_size=(3, 4))
    outputs = ops.convert_to_numpy(layer(np.zeros((1, 12, 8), "float32")))
    rows = ops.convert_to_numpy(layer.row_embedding)
    columns = ops.convert_to_numpy(layer.column_embedding)
    # Position 6 in raster order is row 1, column 2.
    np.testing.assert_allclose(outputs[0, 6], rows[1] + columns[2], rtol=1e-6)


def test_start_index_embeds_later_positions():
    layer = PositionEmbedding2D(grid_size=(3, 4))
    full = ops.convert_to_numpy(layer(np.zeros((2, 12, 8), "float32")))
    for start in (0, 5, 11):
        one = layer(np.zeros((2, 1, 8), "float32"), start_index=ops.convert_to_tensor(start))
        np.testing.assert_allclose(ops.convert_to_numpy(one)[:, 0], full[:, start], rtol=1e-6)


def test_config_round_trip():
    layer = PositionEmbedding2D(grid_size=4, initializer_range=0.1)
    clone = PositionEmbedding2D.from_config(layer.get_config())
    assert clone.grid_size == (4, 4) and clone.initializer_range == 0.1
