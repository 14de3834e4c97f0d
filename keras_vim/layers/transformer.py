"""Pre-LayerNorm Transformer block with multi-head self-attention and an optional KV cache.

The same block serves the ViT encoder/decoder of the tokenizer (bidirectional) and the VIM prior
(causal). The key/value cache lives in the attention layer, so cached decoding and the full
forward pass share every weight and can be compared directly.
"""

import math

import keras
from keras import ops

from keras_vim import backend_ops
from keras_vim.layers.decoding_weights import project, transposed_weights

_MASK_VALUE = -1e9


def tokenwise(function, x):
    """`function` (a token-wise layer or projection) applied to `(B, T, C)` inputs as to
    `(B * T, C)` rows, its output restored to `(B, T, C')`.

    Why: from `(B, T, C)` products, XLA:CPU forms each weight gradient from a transposed copy
    of the output gradient and recomputes the residual stream's whole gradient chain inside
    every such copy, so the backward pass grows quadratically with depth (23% of a VIM
    training step at 8 blocks; see `benchmarks/README.md`). Two-dimensional products need no
    such copies.
    """
    outputs = function(ops.reshape(x, (-1, x.shape[-1])))
    return ops.reshape(outputs, (-1, x.shape[1], outputs.shape[-1]))


def _dropout(layer, x, training):
    """`layer(x)` when it can drop anything: skipping the identity saves the layer call's
    overhead, which dominates the small steps of eager (PyTorch) sampling."""
    return layer(x, training=training) if training and layer.rate > 0 else x


def _causal_mask(length):
    positions = ops.arange(length)
    return positions[None, :] <= positions[:, None]


def einsum_attention(query, key, value, mask, compute_dtype, dropout=None, key_layout="bsnh"):
    """Softmax attention of `query` `(B, T, heads, head_dim)` over keys and values
    `(B, S, heads, head_dim)` (`key_layout="bsnh"`) or `(B, heads, S, head_dim)` (`"bnsh"`, a
    cache's layout, read without copies); `mask` `(T, S)` keeps True entries. The scores and
    the softmax are float32 (a bfloat16 softmax over long rows loses too much precision); the
    weighted sum is in `compute_dtype`. `dropout` (optional) acts on the probabilities.
    Returns `(B, T, heads, head_dim)`.
    """
    scores = ops.einsum(
        f"btnh,{key_layout}->bnts", ops.cast(query, "float32"), ops.cast(key, "float32")
    )
    scores = scores / math.sqrt(query.shape[-1])
    if mask is not None:
        scores = ops.where(mask[None, None], scores, _MASK_VALUE)
    probabilities = ops.softmax(scores, axis=-1)
    if dropout is not None:
        probabilities = dropout(probabilities)
    return ops.einsum(
        f"bnts,{key_layout}->btnh",
        ops.cast(probabilities, compute_dtype),
        ops.cast(value, compute_dtype),
    )


@keras.saving.register_keras_serializable(package="keras_vim")
class MultiHeadSelfAttention(keras.layers.Layer):
    """Multi-head self-attention, optionally causal, with an optional key/value cache.

    Args:
        num_heads: number of attention heads; must divide `hidden_dim`.
        hidden_dim: model width.
        causal: if True, position `t` attends only to positions `<= t`.
        dropout: dropout rate on the attention probabilities.
        use_bias: whether the projections have biases.

    Call arguments:
        inputs: `(B, T, hidden_dim)`.
        cache: optional `(keys, values)` of a previous pass, each `(B, num_heads, S,
            head_dim)`; the new keys/values are written at position `cache_index` and queries
            attend to cached positions `<= cache_index + t`. The updated pair is returned beside
            the output. (Heads before positions, and two arrays rather than one stacked tensor:
            the attention then reads the cache without copies or transposes, and a compiled
            sampling loop updates it in place.)
        cache_index: int or scalar tensor, where `inputs` starts in the cache.
        decoding_weights: optional `decoding_weights()` of this layer, taken once before a
            sampling loop: the same projections from transposed kernels (faster for a few rows;
            see `keras_vim.layers.decoding_weights`).
        overwrite_cache: write the new keys and values into the given cache tensors instead
            of into copies, for a loop that owns its cache and never reuses the old one. Only
            PyTorch's eager mode copies otherwise (all of the cache, at every step); compiled
            JAX and TensorFlow loops update their buffers in place either way.

    Example:
    >>> attention = keras_vim.layers.MultiHeadSelfAttention(num_heads=4, hidden_dim=32)
    >>> attention(np.zeros((2, 10, 32))).shape
    (2, 10, 32)
    """

    def __init__(self, num_heads, hidden_dim, causal=False, dropout=0.0, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        if hidden_dim % num_heads:
            raise ValueError(
                f"`hidden_dim`={hidden_dim} must be divisible by `num_heads`={num_heads}."
            )
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.causal = causal
        self.dropout = dropout
        self.use_bias = use_bias
        self.head_dim = hidden_dim // num_heads

        def dense(name):
            return keras.layers.Dense(
                hidden_dim, use_bias=use_bias, name=name, dtype=self.dtype_policy
            )

        self.query = dense("query")
        self.key = dense("key")
        self.value = dense("value")
        self.attention_output = dense("attention_output")
        self.attention_dropout = keras.layers.Dropout(dropout, dtype=self.dtype_policy)

    def build(self, input_shape):
        for layer in (self.query, self.key, self.value, self.attention_output):
            layer.build(input_shape)

    def _drop_probabilities(self, training):
        return lambda probabilities: _dropout(self.attention_dropout, probabilities, training)

    def _split_heads(self, x):
        return ops.reshape(x, (-1, x.shape[1], self.num_heads, self.head_dim))

    def decoding_weights(self):
        """The projections' kernels transposed, for `call(..., decoding_weights=...)`."""
        return {
            "query_key_value": transposed_weights(self.query, self.key, self.value),
            "attention_output": transposed_weights(self.attention_output),
        }

    def call(
        self,
        inputs,
        cache=None,
        cache_index=None,
        training=None,
        decoding_weights=None,
        overwrite_cache=False,
    ):
        if decoding_weights is None:
            query, key, value = (tokenwise(d, inputs) for d in (self.query, self.key, self.value))
        else:
            projected = project(inputs, decoding_weights["query_key_value"])
            query, key, value = ops.split(projected, 3, axis=-1)
        query, key, value = (self._split_heads(t) for t in (query, key, value))
        query_length = inputs.shape[1]

        if cache is None:
            mask = _causal_mask(query_length) if self.causal else None

            def einsum():
                dropout = self._drop_probabilities(training)
                return einsum_attention(query, key, value, mask, self.compute_dtype, dropout)

            if training and self.dropout > 0:
                attended = einsum()  # the fused op has no dropout on the probabilities
            else:  # fused where the backend has it (keras_vim.backend_ops)
                attended = backend_ops.full_attention(query, key, value, self.causal, einsum)
        else:
            if cache_index is None:
                raise ValueError("`cache_index` is required when `cache` is given.")
            if not isinstance(cache, (tuple, list)) or len(cache) != 2:
                raise ValueError(
                    "`cache` must be a `(keys, values)` pair of (batch, num_heads, length, "
                    f"head_dim) tensors, got {type(cache).__name__}."
                )
            keys, values = cache
            key = backend_ops.write_cache(keys, key, cache_index, overwrite_cache)
            value = backend_ops.write_cache(values, value, cache_index, overwrite_cache)
            new_cache = (key, value)
            key_positions = ops.arange(key.shape[2])
            query_positions = ops.arange(query_length) + cache_index
            # Unfilled cache slots lie after the current position, so the causal rule masks them.
            mask = key_positions[None, :] <= query_positions[:, None]
            attended = einsum_attention(
                query, key, value, mask, self.compute_dtype, key_layout="bnsh"
            )
        attended = ops.reshape(attended, (-1, query_length, self.hidden_dim))
        if decoding_weights is None:
            output = tokenwise(self.attention_output, attended)
        else:
            output = project(attended, decoding_weights["attention_output"])
        if cache is not None:
            return output, new_cache
        return output

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "causal": self.causal,
                "dropout": self.dropout,
                "use_bias": self.use_bias,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_vim")
class TransformerBlock(keras.layers.Layer):
    """Pre-LayerNorm Transformer block: `x + attn(LN(x))`, then `x + MLP(LN(x))`.

    Args:
        num_heads: attention heads.
        hidden_dim: model width.
        mlp_dim: width of the MLP's hidden layer.
        causal: causal self-attention (the VIM prior) or bidirectional (the ViT tokenizer).
        dropout: dropout on the two residual branches.
        attention_dropout: dropout on the attention probabilities.
        activation_dropout: dropout after the MLP's activation.
        activation: the MLP's activation.
        layer_norm_epsilon: epsilon of the two LayerNorms.

    Call arguments:
        inputs: `(B, T, hidden_dim)`.
        cache, cache_index: as for `MultiHeadSelfAttention`; with a cache the block returns
            `(outputs, new_cache)`.
        decoding_weights, overwrite_cache: for sampling loops, see `MultiHeadSelfAttention`
            (`decoding_weights()` of this block).

    Example:
    >>> block = keras_vim.layers.TransformerBlock(num_heads=4, hidden_dim=32, mlp_dim=64)
    >>> block(np.zeros((2, 10, 32))).shape
    (2, 10, 32)
    """

    def __init__(
        self,
        num_heads,
        hidden_dim,
        mlp_dim,
        causal=False,
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        activation="gelu",
        layer_norm_epsilon=1e-6,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.mlp_dim = mlp_dim
        self.causal = causal
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.activation_dropout = activation_dropout
        self.activation = activation
        self.layer_norm_epsilon = layer_norm_epsilon
        policy = self.dtype_policy
        self.attention_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, name="attention_norm", dtype=policy
        )
        self.attention = MultiHeadSelfAttention(
            num_heads,
            hidden_dim,
            causal=causal,
            dropout=attention_dropout,
            name="attention",
            dtype=policy,
        )
        self.mlp_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, name="mlp_norm", dtype=policy
        )
        self.mlp_intermediate = keras.layers.Dense(
            mlp_dim, activation=activation, name="mlp_intermediate", dtype=policy
        )
        self.mlp_output = keras.layers.Dense(hidden_dim, name="mlp_output", dtype=policy)
        self.residual_dropout = keras.layers.Dropout(dropout, dtype=policy)
        self.mlp_dropout = keras.layers.Dropout(activation_dropout, dtype=policy)

    def build(self, input_shape):
        self.attention_norm.build(input_shape)
        self.attention.build(input_shape)
        self.mlp_norm.build(input_shape)
        self.mlp_intermediate.build(input_shape)
        self.mlp_output.build((*input_shape[:-1], self.mlp_dim))

    def decoding_weights(self):
        """The kernels transposed, for `call(..., decoding_weights=...)`."""
        return {
            "attention": self.attention.decoding_weights(),
            "mlp_intermediate": transposed_weights(self.mlp_intermediate),
            "mlp_output": transposed_weights(self.mlp_output),
        }

    def call(
        self,
        inputs,
        cache=None,
        cache_index=None,
        training=None,
        decoding_weights=None,
        overwrite_cache=False,
    ):
        attention_weights = None if decoding_weights is None else decoding_weights["attention"]
        x = self.attention(
            self.attention_norm(inputs),
            cache=cache,
            cache_index=cache_index,
            training=training,
            decoding_weights=attention_weights,
            overwrite_cache=overwrite_cache,
        )
        if cache is not None:
            x, cache = x
        x = inputs + _dropout(self.residual_dropout, x, training)

        def mlp(rows):
            if decoding_weights is None:
                rows = self.mlp_intermediate(rows)
            else:
                activation = self.mlp_intermediate.activation
                rows = project(rows, decoding_weights["mlp_intermediate"], activation)
            rows = _dropout(self.mlp_dropout, rows, training)
            if decoding_weights is None:
                return self.mlp_output(rows)
            return project(rows, decoding_weights["mlp_output"])

        y = tokenwise(mlp, self.mlp_norm(x))
        outputs = x + _dropout(self.residual_dropout, y, training)
        if cache is not None:
            return outputs, cache
        return outputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "mlp_dim": self.mlp_dim,
                "causal": self.causal,
                "dropout": self.dropout,
                "attention_dropout": self.attention_dropout,
                "activation_dropout": self.activation_dropout,
                "activation": self.activation,
                "layer_norm_epsilon": self.layer_norm_epsilon,
            }
        )
        return config
