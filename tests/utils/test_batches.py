import numpy as np
import pytest

from keras_vim.utils.batches import call_padded, cut_rows, pad_rows


def test_pad_rows_repeats_the_last_row_and_leaves_full_batches_alone():
    batch = np.arange(6).reshape(3, 2)
    padded = pad_rows(batch, 5)
    np.testing.assert_array_equal(padded, [[0, 1], [2, 3], [4, 5], [4, 5], [4, 5]])
    assert pad_rows(batch, 3) is batch and pad_rows(batch, 2) is batch
    with pytest.raises(ValueError, match="empty batch"):
        pad_rows(np.zeros((0, 2)), 4)


def test_call_padded_calls_one_shape_and_returns_the_real_rows():
    shapes = []

    def function(x, classes, nothing):
        shapes.append((x.shape, classes.shape, nothing))
        return {"sum": x.sum(axis=1) + classes, "pair": (x[:, 0], None)}

    x = np.arange(6).reshape(3, 2)
    out = call_padded(function, (x, np.array([10, 20, 30]), None), batch_size=4)
    assert shapes == [((4, 2), (4,), None)]
    np.testing.assert_array_equal(out["sum"], [11, 25, 39])
    np.testing.assert_array_equal(out["pair"][0], [0, 2, 4])
    assert out["pair"][1] is None and isinstance(out["pair"], tuple)


def test_call_padded_refuses_bad_input():
    with pytest.raises(ValueError, match="one length"):
        call_padded(lambda a, b: a, (np.zeros(2), np.zeros(3)), 4)
    with pytest.raises(ValueError, match="more than `batch_size`=2"):
        call_padded(lambda a: a, (np.zeros(3),), 2)
    with pytest.raises(TypeError, match="`batch_size`"):
        call_padded(lambda a: a, (np.zeros(3),), 2.0)


def test_cut_rows_converts_tensors():
    from keras import ops

    np.testing.assert_array_equal(cut_rows(ops.arange(5), 2), [0, 1])
