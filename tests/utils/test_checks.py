import keras
import numpy as np
import pytest

from keras_vim.utils.checked_batches import BatchChecker
from keras_vim.utils.checks import (
    check_id_range,
    check_image_values,
    check_integer,
    check_real,
)


@pytest.mark.parametrize(
    "value", [3, np.int64(3), np.int32(3), np.uint8(3), np.int16(3)], ids=lambda v: type(v).__name__
)
def test_integers_of_every_type_are_accepted_as_python_ints(value):
    result = check_integer("n", value, minimum=1, maximum=5)
    assert result == 3 and type(result) is int


@pytest.mark.parametrize(
    "value, error, match",
    [
        (0, ValueError, r"^`n` must be an integer in \[1, 5\], got 0\.$"),
        (6, ValueError, r"`n` must be an integer in \[1, 5\], got 6"),
        (np.int64(-2), ValueError, r"`n` must be an integer in \[1, 5\], got -2"),
        (2.0, TypeError, r"`n` must be an integer in \[1, 5\], got 2.0 \(float\)"),
        (True, TypeError, r"`n` must be an integer in \[1, 5\], got True \(bool\)"),
        (np.bool_(True), TypeError, r"`n` must be an integer"),
        ("3", TypeError, r"`n` must be an integer in \[1, 5\], got '3' \(str\)"),
        (None, TypeError, r"`n` must be an integer in \[1, 5\], got None"),
    ],
)
def test_bad_integers(value, error, match):
    with pytest.raises(error, match=match):
        check_integer("n", value, minimum=1, maximum=5)


def test_integer_bounds_and_none():
    assert check_integer("seed", None, allow_none=True) is None
    assert check_integer("seed", -7) == -7
    with pytest.raises(ValueError, match=r"`seed` must be None or an integer >= 0, got -1"):
        check_integer("seed", -1, minimum=0, allow_none=True)
    with pytest.raises(ValueError, match=r"`k` must be an integer <= 4, got 5"):
        check_integer("k", 5, maximum=4)


@pytest.mark.parametrize(
    "value",
    [0.8, np.float32(0.8), np.float64(0.8), np.float16(0.8)],
    ids=lambda v: type(v).__name__,
)
def test_reals_of_every_type_are_accepted_as_python_floats(value):
    result = check_real("temperature", value, minimum=0, include_minimum=False)
    assert result == pytest.approx(0.8, rel=1e-3) and type(result) is float
    assert check_real("scale", np.int64(2)) == 2.0


@pytest.mark.parametrize(
    "value, error, match",
    [
        (0, ValueError, r"^`temperature` must be a finite real number > 0, got 0\.$"),
        (-1.5, ValueError, r"`temperature` must be a finite real number > 0, got -1.5"),
        (float("inf"), ValueError, r"`temperature` must be a finite real number > 0, got inf"),
        (float("nan"), ValueError, r"`temperature` must be a finite real number > 0, got nan"),
        (np.float32("nan"), ValueError, r"got nan"),
        (False, TypeError, r"`temperature` must be a finite real number > 0, got False \(bool\)"),
        ("1", TypeError, r"got '1' \(str\)"),
        (1j, TypeError, r"`temperature` must be a finite real number > 0"),
    ],
)
def test_bad_reals(value, error, match):
    with pytest.raises(error, match=match):
        check_real("temperature", value, minimum=0, include_minimum=False)


@pytest.mark.parametrize(
    "kwargs, good, bad, expected",
    [
        (dict(minimum=0, maximum=1), (0, 1), (-0.1, 1.1), r"in \[0, 1\]"),
        (dict(minimum=0, maximum=1, include_maximum=False), (0, 0.5), (1, 2), r"in \[0, 1\)"),
        (dict(minimum=0, maximum=1, include_minimum=False), (1, 0.5), (0, -1), r"in \(0, 1\]"),
        (dict(minimum=0), (0, 10), (-1, -0.5), r">= 0"),
        (dict(maximum=2, include_maximum=False), (1.9, -5), (2, 3), r"< 2"),
    ],
)
def test_real_ranges(kwargs, good, bad, expected):
    for value in good:
        assert check_real("x", value, **kwargs) == value
    for value in bad:
        with pytest.raises(ValueError, match=rf"`x` must be a finite real number {expected}"):
            check_real("x", value, **kwargs)


def test_none_reals():
    assert check_real("top_p", None, minimum=0, allow_none=True) is None
    with pytest.raises(ValueError, match=r"`top_p` must be None or a finite real number"):
        check_real("top_p", 2.0, maximum=1, allow_none=True)


def test_id_ranges():
    check_id_range("ids", np.array([[0, 3], [2, 1]]), 4)
    check_id_range("ids", np.zeros((0, 3), "int32"), 4)
    check_id_range("ids", np.array([0, 99]))  # no upper bound: >= 0 only
    with pytest.raises(
        ValueError, match=r"^`tokens` must be in \[0, 3\] \(vocabulary_size=4\), got values in "
    ):
        check_id_range("tokens", np.array([0, 4]), 4, "vocabulary_size=4")
    with pytest.raises(ValueError, match=r"`ids` must be integers >= 0, got values in \[-1, 2\]"):
        check_id_range("ids", np.array([2, -1]))


@pytest.mark.parametrize(
    "images",
    [
        np.zeros((2, 4, 4, 1), "float32"),
        np.ones((2, 4, 4, 1), "float64"),
        np.full((1, 2, 2, 3), 255, "uint8"),
        np.full((1, 2, 2, 3), 255, "int32"),
        np.zeros((0, 4, 4, 1), "float32"),
    ],
)
def test_good_image_values(images):
    check_image_values("images", images)


@pytest.mark.parametrize(
    "images, error, match",
    [
        (
            np.full((1, 2, 2, 1), 255.0),
            ValueError,
            r"Float `images` must be in \[0, 1\], got .*255",
        ),
        (np.full((1, 2, 2, 1), -0.5), ValueError, r"must be in \[0, 1\], got values in \[-0.5"),
        (np.array([[0.5, np.nan]]), ValueError, r"must be finite values in \[0, 1\], got NaN"),
        (np.array([[0.5, np.inf]]), ValueError, r"must be finite values in \[0, 1\]"),
        (np.array([[300]], "int32"), ValueError, r"Integer `images` must be in \[0, 255\]"),
        (np.array([[-1]], "int64"), ValueError, r"Integer `images` must be in \[0, 255\]"),
        (np.zeros((1, 2), bool), TypeError, r"`images` must be floats in \[0, 1\] or uint8"),
    ],
)
def test_bad_image_values(images, error, match):
    with pytest.raises(error, match=match):
        check_image_values("images", images)


def test_image_tolerance():
    check_image_values("images", np.array([1.0005, -0.0005]), tolerance=1e-3)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        check_image_values("images", np.array([1.0005]))


def _must_be_small(batch):
    tokens = batch[0] if isinstance(batch, tuple) else batch
    check_id_range("tokens", tokens, 10)


def _collect(data):
    return [np.asarray(batch[0] if isinstance(batch, tuple) else batch) for batch in data]


def test_batch_checker_passes_good_batches_unchanged():
    import tensorflow as tf

    tokens = np.arange(12, dtype="int32").reshape(4, 3) % 10
    checker = BatchChecker(_must_be_small)
    dataset = tf.data.Dataset.from_tensor_slices((tokens, np.arange(4))).batch(2)
    checked = checker.wrap(dataset)
    assert checked.element_spec == dataset.element_spec
    np.testing.assert_array_equal(np.concatenate(_collect(checked)), tokens)
    generator = checker.wrap(batch for batch in (tokens[:2], tokens[2:]))
    np.testing.assert_array_equal(np.concatenate(_collect(generator)), tokens)
    array = tokens
    assert checker.wrap(array) is array
    assert checker.error is None


@pytest.mark.parametrize("kind", ["tf.data", "generator", "PyDataset"])
def test_batch_checker_raises_the_checks_own_error(kind):
    import tensorflow as tf

    tokens = np.array([[1, 2], [3, 12]], "int32")
    checker = BatchChecker(_must_be_small)
    if kind == "tf.data":
        data = tf.data.Dataset.from_tensor_slices(tokens).batch(1)
    elif kind == "generator":
        data = (tokens[i : i + 1] for i in range(2))
    else:

        class Batches(keras.utils.PyDataset):
            def __len__(self):
                return 2

            def __getitem__(self, index):
                return tokens[index : index + 1]

        data = Batches()
    checked = checker.wrap(data)
    if kind == "PyDataset":
        py_dataset = checked
        assert isinstance(py_dataset, keras.utils.PyDataset) and len(py_dataset) == 2
        checked = (py_dataset[i] for i in range(2))
    with pytest.raises(ValueError, match=r"`tokens` must be in \[0, 9\], got values in \[3, 12\]"):
        with checker.errors():
            _collect(checked)
    assert isinstance(checker.error, ValueError)


def test_batch_checker_leaves_other_errors_alone():
    checker = BatchChecker(_must_be_small)
    checker.error = ValueError("`tokens` must be in [0, 9]")
    with pytest.raises(KeyError, match="unrelated"):
        with checker.errors():
            raise KeyError("unrelated")


def test_a_datasets_spec_is_checked_when_it_is_wrapped():
    import tensorflow as tf

    def rank_2(batch):
        if len(batch.shape) != 2:
            raise ValueError(f"`tokens` must have rank 2, got shape {tuple(batch.shape)}.")

    checker = BatchChecker(_must_be_small, check_spec=rank_2)
    checker.wrap(tf.data.Dataset.from_tensor_slices(np.zeros((4, 3))).batch(2))
    with pytest.raises(ValueError, match=r"`tokens` must have rank 2, got shape \(None, 3, 1\)"):
        checker.wrap(tf.data.Dataset.from_tensor_slices(np.zeros((4, 3, 1))).batch(2))
