import keras
import numpy as np
import pytest
from keras import ops

from keras_vim.backend_ops import kth_largest, kth_largest_by_bisection
from keras_vim.sampling import (
    apply_temperature,
    check_sampling_args,
    classifier_free_guidance,
    draw_tokens,
    filter_logits,
    seed_for_step,
    top_k_filter,
    top_p_filter,
)

PROBABILITIES = np.array([[0.05, 0.5, 0.15, 0.3], [0.25, 0.25, 0.4, 0.1]])
LOGITS = np.log(PROBABILITIES).astype("float32")


def kept(logits):
    return np.isfinite(ops.convert_to_numpy(logits))


@pytest.mark.parametrize(
    "k, expected",
    [
        (1, [[0, 1, 0, 0], [0, 0, 1, 0]]),
        # Row 2 has a tie at the 2nd value: both tied entries are kept.
        (2, [[0, 1, 0, 1], [1, 1, 1, 0]]),
        (3, [[0, 1, 1, 1], [1, 1, 1, 0]]),
        (4, [[1, 1, 1, 1], [1, 1, 1, 1]]),
    ],
)
def test_top_k_support(k, expected):
    filtered = top_k_filter(LOGITS, k)
    np.testing.assert_array_equal(kept(filtered), np.array(expected, bool))
    # Kept logits are unchanged.
    values = ops.convert_to_numpy(filtered)
    np.testing.assert_allclose(values[kept(filtered)], LOGITS[kept(filtered)], rtol=1e-6)


# The bisection is JAX's path (keras_vim.backend_ops) but pure keras.ops: tested everywhere.
@pytest.mark.parametrize("find", [kth_largest, kth_largest_by_bisection])
@pytest.mark.parametrize("k", [1, 64, 999])
def test_kth_largest_matches_a_sort(k, find):
    values = np.random.default_rng(0).normal(size=(6, 1000)).astype("float32")
    values[1, :50] = values[1, 7]  # a run of ties
    values[2] = -np.abs(values[2])  # all negative
    values[3, :990] = -np.inf
    values[4] = np.where(np.arange(1000) % 2, 0.0, -0.0)  # signed zeros
    values[5] *= 1e30
    expected = np.sort(values, axis=-1)[:, -k][:, None]
    found = ops.convert_to_numpy(find(ops.convert_to_tensor(values), k))
    np.testing.assert_array_equal(found, expected)


@pytest.mark.parametrize(
    "p, expected",
    [
        # Row 1 sorted: 0.5, 0.3, 0.15, 0.05 (mass before each: 0, 0.5, 0.8, 0.95).
        # Row 2 sorted: 0.4, 0.25, 0.25, 0.1 (mass before: 0, 0.4, 0.4 for the tie, 0.9).
        (0.3, [[0, 1, 0, 0], [0, 0, 1, 0]]),
        (0.45, [[0, 1, 0, 0], [1, 1, 1, 0]]),
        (0.75, [[0, 1, 0, 1], [1, 1, 1, 0]]),
        (0.85, [[0, 1, 1, 1], [1, 1, 1, 0]]),
        (0.97, [[1, 1, 1, 1], [1, 1, 1, 1]]),
        (1.0, [[1, 1, 1, 1], [1, 1, 1, 1]]),
    ],
)
def test_top_p_support(p, expected):
    np.testing.assert_array_equal(kept(top_p_filter(LOGITS, p)), np.array(expected, bool))


def test_top_p_always_keeps_the_most_likely_entry():
    logits = np.array([[10.0, 0.0, 0.0]], "float32")
    np.testing.assert_array_equal(kept(top_p_filter(logits, 1e-6)), [[True, False, False]])


def test_temperature_and_filter_order():
    np.testing.assert_allclose(ops.convert_to_numpy(apply_temperature(LOGITS, 2.0)), LOGITS / 2)
    # Temperature does not change the top-k set, but it changes the top-p set.
    sharp = filter_logits(LOGITS, temperature=0.25, top_p=0.75)
    np.testing.assert_array_equal(kept(sharp)[0], [False, True, False, False])
    combined = filter_logits(LOGITS, top_k=3, top_p=0.85)
    np.testing.assert_array_equal(kept(combined), [[0, 1, 1, 1], [1, 1, 1, 0]])


def test_classifier_free_guidance():
    conditional = np.array([[1.0, 3.0]], "float32")
    unconditional = np.array([[2.0, 2.0]], "float32")
    guided = ops.convert_to_numpy(classifier_free_guidance(conditional, unconditional, 3.0))
    np.testing.assert_allclose(guided, [[-1.0, 5.0]])
    np.testing.assert_allclose(
        ops.convert_to_numpy(classifier_free_guidance(conditional, unconditional, 1.0)),
        conditional,
    )


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"temperature": 0}, ValueError, r"`temperature` must be a finite real number > 0"),
        ({"temperature": -1.0}, ValueError, "temperature"),
        ({"temperature": float("inf")}, ValueError, "temperature"),
        ({"top_k": 0}, ValueError, r"`top_k` must be None or an integer in \[1, 4\], got 0"),
        ({"top_k": 5}, ValueError, "top_k"),
        ({"top_k": 2.5}, TypeError, "top_k"),
        ({"top_p": 0.0}, ValueError, r"`top_p` must be None or a finite real number in \(0, 1\]"),
        ({"top_p": 1.5}, ValueError, "top_p"),
        ({"temperature": True}, TypeError, "temperature"),
    ],
)
def test_bad_sampling_args(kwargs, error, match):
    with pytest.raises(error, match=match):
        check_sampling_args(4, **kwargs)


def test_numpy_scalars_are_sampling_args():
    settings = check_sampling_args(4, np.float32(0.5), np.int64(2), np.float64(0.9))
    assert settings == (0.5, 2, 0.9)
    assert [type(value) for value in settings] == [float, int, float]


def test_draws_respect_the_filter_and_the_seed():
    generator = keras.random.SeedGenerator(0)
    logits = ops.convert_to_tensor(np.tile(LOGITS, (200, 1)))
    filtered = top_k_filter(logits, 2)
    seed = seed_for_step(ops.convert_to_tensor([7, 0]), 3, generator)
    np.testing.assert_array_equal(ops.convert_to_numpy(seed), [7, 3])
    draws = ops.convert_to_numpy(draw_tokens(filtered, seed, generator))
    # Even rows keep {1, 3}; odd rows keep {2} and the tied pair {0, 1} (ties are kept).
    assert set(draws[0::2]) == {1, 3}
    assert set(draws[1::2]) == {0, 1, 2}
    # The same seed repeats the draws, another seed changes them; the generator is untouched.
    state = ops.convert_to_numpy(generator.state)
    again = ops.convert_to_numpy(draw_tokens(filtered, seed, generator))
    np.testing.assert_array_equal(draws, again)
    other = seed_for_step(ops.convert_to_tensor([7, 0]), 4, generator)
    assert (ops.convert_to_numpy(draw_tokens(filtered, other, generator)) != draws).any()
    np.testing.assert_array_equal(ops.convert_to_numpy(generator.state), state)


def test_draw_frequencies_follow_the_softmax():
    generator = keras.random.SeedGenerator(0)
    logits = ops.convert_to_tensor(np.tile(LOGITS[:1], (4000, 1)))
    draws = ops.convert_to_numpy(draw_tokens(logits, ops.convert_to_tensor([1, 0]), generator))
    frequencies = np.bincount(draws, minlength=4) / len(draws)
    np.testing.assert_allclose(frequencies, PROBABILITIES[0], atol=0.03)


def test_draws_over_a_vocabulary_of_uneven_blocks_skip_filtered_entries():
    # 10 entries: JAX's two-level inverse CDF pads them to 3 blocks of 4.
    probabilities = np.array([0.0, 0.1, 0.0, 0.0, 0.3, 0.0, 0.0, 0.2, 0.0, 0.4])
    logits = np.where(probabilities > 0, np.log(np.maximum(probabilities, 1e-30)), -np.inf)
    rows = ops.convert_to_tensor(np.tile(logits.astype("float32"), (4000, 1)))
    generator = keras.random.SeedGenerator(0)
    draws = ops.convert_to_numpy(draw_tokens(rows, ops.convert_to_tensor([3, 0]), generator))
    assert draws.dtype == np.int32
    frequencies = np.bincount(draws, minlength=10) / len(draws)
    assert frequencies[probabilities == 0].max() == 0
    np.testing.assert_allclose(frequencies, probabilities, atol=0.03)
