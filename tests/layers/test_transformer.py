import keras
import numpy as np
import pytest
from keras import ops

from keras_vim import backend_ops
from keras_vim.layers import MultiHeadSelfAttention, TransformerBlock
from keras_vim.layers.transformer import _causal_mask, einsum_attention


def _numpy_attention(x, layer, causal):
    w = [ops.convert_to_numpy(v) for v in layer.weights]
    (wq, bq), (wk, bk), (wv, bv), (wo, bo) = w[0:2], w[2:4], w[4:6], w[6:8]
    batch, length, dim = x.shape
    heads, head_dim = layer.num_heads, dim // layer.num_heads

    def split(t):
        return t.reshape(batch, length, heads, head_dim).transpose(0, 2, 1, 3)

    q, k, v = split(x @ wq + bq), split(x @ wk + bk), split(x @ wv + bv)
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(head_dim)
    if causal:
        scores = np.where(np.tril(np.ones((length, length), bool)), scores, -1e9)
    p = np.exp(scores - scores.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    out = (p @ v).transpose(0, 2, 1, 3).reshape(batch, length, dim)
    return out @ wo + bo


@pytest.mark.parametrize("causal", [False, True])
def test_attention_matches_numpy(rng, causal):
    x = rng.normal(size=(2, 5, 8)).astype("float32")
    layer = MultiHeadSelfAttention(num_heads=2, hidden_dim=8, causal=causal)
    outputs = ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(outputs, _numpy_attention(x, layer, causal), rtol=1e-4, atol=1e-5)


def test_causal_block_does_not_look_ahead(rng):
    x = rng.normal(size=(1, 6, 8)).astype("float32")
    block = TransformerBlock(num_heads=2, hidden_dim=8, mlp_dim=16, causal=True)
    changed = x.copy()
    changed[0, 3] += rng.normal(size=8).astype("float32")
    a, b = (ops.convert_to_numpy(block(v)) for v in (x, changed))
    np.testing.assert_allclose(a[0, :3], b[0, :3], rtol=1e-5, atol=1e-6)
    assert np.abs(a[0, 3:] - b[0, 3:]).max() > 1e-3


# The sampling loop's settings: kernels transposed once, the cache written in place.
@pytest.mark.parametrize("transposed_kernels, overwrite_cache", [(False, False), (True, True)])
def test_cached_decoding_equals_full_pass(rng, transposed_kernels, overwrite_cache):
    x = rng.normal(size=(2, 6, 8)).astype("float32")
    block = TransformerBlock(num_heads=2, hidden_dim=8, mlp_dim=16, causal=True)
    full = ops.convert_to_numpy(block(x))
    weights = block.decoding_weights() if transposed_kernels else None
    if transposed_kernels:  # one (query, key, value) product from a (3 x width, width) kernel
        assert tuple(weights["attention"]["query_key_value"]["kernel"].shape) == (24, 8)
    cache = (ops.zeros((2, 2, 6, 4)), ops.zeros((2, 2, 6, 4)))  # (B, heads, S, head_dim)
    # A two-token prefix at once, then one token at a time.
    settings = {"decoding_weights": weights, "overwrite_cache": overwrite_cache}
    out, cache = block(x[:, :2], cache=cache, cache_index=0, **settings)
    steps = [ops.convert_to_numpy(out)]
    for t in range(2, 6):
        index = ops.convert_to_tensor(t)
        out, cache = block(x[:, t : t + 1], cache=cache, cache_index=index, **settings)
        steps.append(ops.convert_to_numpy(out))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, rtol=1e-4, atol=1e-5)


def test_bidirectional_block_sees_all_positions(rng):
    x = rng.normal(size=(1, 4, 8)).astype("float32")
    block = TransformerBlock(num_heads=2, hidden_dim=8, mlp_dim=16)
    changed = x.copy()
    changed[0, 3] += rng.normal(size=8).astype("float32")
    a, b = (ops.convert_to_numpy(block(v)) for v in (x, changed))
    assert np.abs(a[0, 0] - b[0, 0]).max() > 1e-4


def test_block_serialization_round_trip(rng, tmp_path):
    x = rng.normal(size=(2, 4, 8)).astype("float32")
    inputs = keras.Input((4, 8))
    block = TransformerBlock(num_heads=2, hidden_dim=8, mlp_dim=16, causal=True, dropout=0.1)
    model = keras.Model(inputs, block(inputs))
    path = str(tmp_path / "block.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(
        ops.convert_to_numpy(restored(x)), ops.convert_to_numpy(model(x)), rtol=1e-5, atol=1e-6
    )
    assert restored.layers[-1].get_config() == block.get_config()


def test_bad_head_count():
    with pytest.raises(ValueError, match="divisible by `num_heads`"):
        MultiHeadSelfAttention(num_heads=3, hidden_dim=8)


def full_pass_attention(query, key, value, causal, compute_dtype="float32"):
    """The full pass's attention as the layer calls it (fused where the backend has it)."""
    mask = _causal_mask(query.shape[1]) if causal else None
    return backend_ops.full_attention(
        query, key, value, causal, lambda: einsum_attention(query, key, value, mask, compute_dtype)
    )


@pytest.mark.parametrize("causal", [True, False])
def test_full_pass_attention_equals_the_einsum_path(rng, causal):
    query, key, value = (
        ops.convert_to_tensor(rng.normal(size=(2, 9, 3, 8)).astype("float32")) for _ in range(3)
    )
    mask = _causal_mask(9) if causal else None
    np.testing.assert_allclose(
        ops.convert_to_numpy(full_pass_attention(query, key, value, causal)),
        ops.convert_to_numpy(einsum_attention(query, key, value, mask, "float32")),
        rtol=1e-5,
        atol=1e-6,
    )


def test_full_pass_attention_takes_a_float32_softmax_under_bfloat16(rng):
    # Long rows of large scores: a bfloat16 softmax (TensorFlow's fused op) is off by ~2 here,
    # a float32 one only by the bfloat16 rounding of inputs and output (~0.3).
    query, key, value = (rng.normal(size=(2, 512, 4, 32)).astype("float32") * 3 for _ in range(3))
    reference = ops.convert_to_numpy(
        einsum_attention(
            *(ops.convert_to_tensor(x) for x in (query, key, value)), _causal_mask(512), "float32"
        )
    )
    low = [ops.cast(ops.convert_to_tensor(x), "bfloat16") for x in (query, key, value)]
    attended = full_pass_attention(*low, causal=True, compute_dtype="bfloat16")
    assert keras.backend.standardize_dtype(attended.dtype) == "bfloat16"
    error = np.abs(ops.convert_to_numpy(ops.cast(attended, "float32")) - reference).max()
    assert error < 0.6, error
