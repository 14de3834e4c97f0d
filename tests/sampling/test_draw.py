"""The two-level inverse-CDF draw (JAX's sampler): never a token of probability 0, right odds.

`inverse_cdf_draw` is pure keras.ops, so it is tested directly on every backend.
"""

import numpy as np
import pytest
from keras import ops

from keras_vim.backend_ops import inverse_cdf_draw
from keras_vim.sampling import top_k_filter, top_p_filter


def draw(logits, uniform):
    logits = ops.convert_to_tensor(np.asarray(logits, "float32"))
    uniform = ops.convert_to_tensor(np.asarray(uniform, "float32").reshape(-1, 1))
    return ops.convert_to_numpy(inverse_cdf_draw(logits, uniform))


def softmax(logits):
    logits = np.asarray(logits, "float32")
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def test_regression_one_ulp_past_a_block_boundary_draws_no_removed_token():
    # Issue 16: `cumulative - block_mass` exceeded the previous block's cumulative mass by one
    # ulp, the in-block target went negative and the removed entry 8 (first of its block) won.
    logits = np.arange(16, dtype="float32") * 0.5 / 7
    logits[[4, 8, 12]] = -np.inf
    token = draw(logits[None], [0.3882341682910919])[0]
    assert np.isfinite(logits[token]), f"drew token {token}, of probability 0"
    assert token == 9  # the first entry of that block with positive probability


def boundary_uniforms(logits, width):
    """Uniforms that put the target at, and a few ulps around, every block boundary (where
    rounding bites), plus 0, the largest float32 below 1 and random ones."""
    probabilities = softmax(logits)
    padded = np.pad(probabilities, (0, -len(probabilities) % width))
    cumulative = np.cumsum(padded.reshape(-1, width).sum(axis=-1, dtype="float32"), dtype="float32")
    uniforms = [np.float32(0), np.nextafter(np.float32(1), np.float32(0))]
    for boundary in cumulative[:-1] / cumulative[-1]:
        value = np.float32(boundary)
        for _ in range(3):
            uniforms += [value, np.nextafter(value, np.float32(1))]
            value = np.nextafter(value, np.float32(0))
    uniforms += list(np.random.default_rng(len(logits)).random(16, dtype="float32"))
    return np.clip(np.array(uniforms, "float32"), 0, np.nextafter(np.float32(1), np.float32(0)))


def masked_rows(rng, vocabulary):
    """Random logits at three scales with `-inf` masks as top-k, top-p, and scattered removals
    make."""
    scales = np.array([0.05, 1.0, 4.0], "float32")[:, None]
    logits = (rng.normal(size=(3, vocabulary)) * scales).astype("float32")
    k = int(rng.integers(1, vocabulary))
    top_k = top_k_filter(ops.convert_to_tensor(logits), k)
    top_p = top_p_filter(ops.convert_to_tensor(logits), float(rng.uniform(0.05, 0.95)))
    scattered = np.where(rng.random(logits.shape) < 0.4, -np.inf, logits)
    scattered[np.arange(3), rng.integers(vocabulary, size=3)] = 0.0  # at least one is kept
    rows = [ops.convert_to_numpy(top_k), ops.convert_to_numpy(top_p), scattered]
    return np.concatenate(rows).astype("float32")


# 16: the regression case's size; 257: a short last block; 1024: many blocks.
@pytest.mark.parametrize("vocabulary", [16, 257, 1024])
def test_never_draws_a_token_of_probability_zero(vocabulary):
    rng = np.random.default_rng(vocabulary)
    width = int(np.sqrt(vocabulary - 1)) + 1
    rows, uniforms = [], []
    for logits in masked_rows(rng, vocabulary):
        row_uniforms = boundary_uniforms(logits, width)
        rows.append(np.repeat(logits[None], len(row_uniforms), axis=0))
        uniforms.append(row_uniforms)
    rows, uniforms = np.concatenate(rows), np.concatenate(uniforms)
    tokens = draw(rows, uniforms)
    drawn = rows[np.arange(len(rows)), tokens]
    bad = np.flatnonzero(~np.isfinite(drawn))
    assert bad.size == 0, (
        f"{bad.size} of {len(rows)} draws took a token of probability 0, e.g. token "
        f"{tokens[bad[0]]} with uniform {uniforms[bad[0]]!r}"
    )
    assert (tokens >= 0).all() and (tokens < vocabulary).all()


def test_draws_follow_the_probabilities():
    # Evenly spaced uniforms: each token's share of the draws is its probability, to 1/N.
    logits = np.random.default_rng(5).normal(size=37).astype("float32")
    logits[[0, 7, 8, 36]] = -np.inf
    count = 20_000
    uniforms = (np.arange(count, dtype="float64") + 0.5) / count
    tokens = draw(np.repeat(logits[None], count, axis=0), uniforms)
    shares = np.bincount(tokens, minlength=37) / count
    np.testing.assert_allclose(shares, softmax(logits), atol=2 / count)
