"""VIMBackbone: the architecture of the stage-2 prior (paper section 4), a decoder-only
Transformer over image token ids in raster order, with its key/value cache."""

import keras
from keras import ops

from keras_vim.backend_ops import decoding_weights_help
from keras_vim.layers.decoding_weights import project, transposed_weights
from keras_vim.layers.patching import _to_pair
from keras_vim.layers.position_embedding import PositionEmbedding2D
from keras_vim.layers.transformer import TransformerBlock, tokenwise
from keras_vim.models.preset_mixin import PresetMixin
from keras_vim.utils.checks import check_integer, check_real


@keras.saving.register_keras_serializable(package="keras_vim")
class VIMBackbone(PresetMixin, keras.Model):
    """The VIM prior's network: embeddings, causal pre-LayerNorm blocks, final norm, logits.

    Each id of a `(h, w)` token grid, read in raster order, gets a learned token embedding
    plus a learned 2D position embedding (`keras_vim.layers.PositionEmbedding2D`). The
    sequence starts with one condition token from its own table: `num_classes + 1` rows (the
    classes and the null class) for a class-conditional prior, one learned start token for an
    unconditional one. Slot 0 holds the condition and predicts token 0; slot `i > 0` holds
    token `i - 1` and predicts token `i`.

    The backbone takes ids that are already checked; `keras_vim.models.VIM` (the task that
    holds it) checks inputs, drops classes in training and samples.

    Args:
        vocabulary_size: number of codes of the tokenizer (8192 in the paper).
        grid_size: `(h, w)` of the token grid, or an int for a square grid (32 in the paper).
        num_layers, num_heads, hidden_dim, mlp_dim: Transformer size.
        num_classes: number of classes of a class-conditional prior, or None.
        dropout: dropout rate on the embeddings, the residual branches, the attention
            probabilities and the MLP activations.
        layer_norm_epsilon: epsilon of every LayerNorm.
        initializer_range: standard deviation of the embeddings' normal initializer.

    Call arguments:
        inputs: a dict of `token_ids` `(B, T)`, `T <= h * w`, and `condition_ids` `(B,)`.

    Returns the float32 logits `(B, T, vocabulary_size)` of tokens `0 .. T - 1`.

    Example:
    >>> backbone = keras_vim.models.VIMBackbone(vocabulary_size=512, grid_size=8,
    ...     num_layers=2, num_heads=4, hidden_dim=64, mlp_dim=128, num_classes=10)
    >>> backbone({"token_ids": np.zeros((2, 64), "int32"),
    ...           "condition_ids": np.array([3, 7])}).shape
    (2, 64, 512)
    """

    def __init__(
        self,
        vocabulary_size,
        grid_size,
        num_layers,
        num_heads,
        hidden_dim,
        mlp_dim,
        num_classes=None,
        dropout=0.1,
        layer_norm_epsilon=1e-6,
        initializer_range=0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = check_integer("vocabulary_size", vocabulary_size, minimum=2)
        self.grid_size = _to_pair(grid_size, "grid_size")
        if min(self.grid_size) < 1:
            raise ValueError(f"`grid_size` must be positive, got {self.grid_size}.")
        self.num_layers = check_integer("num_layers", num_layers, minimum=1)
        self.num_heads = check_integer("num_heads", num_heads, minimum=1)
        self.hidden_dim = check_integer("hidden_dim", hidden_dim, minimum=1)
        self.mlp_dim = check_integer("mlp_dim", mlp_dim, minimum=1)
        if self.hidden_dim % self.num_heads:
            raise ValueError(
                f"`hidden_dim`={hidden_dim} must be divisible by `num_heads`={num_heads}."
            )
        self.num_classes = check_integer("num_classes", num_classes, minimum=1, allow_none=True)
        self.dropout = check_real("dropout", dropout, 0, 1, include_maximum=False)
        self.layer_norm_epsilon = check_real(
            "layer_norm_epsilon", layer_norm_epsilon, minimum=0, include_minimum=False
        )
        self.initializer_range = check_real(
            "initializer_range", initializer_range, minimum=0, include_minimum=False
        )
        self.sequence_length = self.grid_size[0] * self.grid_size[1]

        # The attribute names are the weights' paths in preset files: keep them.
        policy = self.dtype_policy
        initializer = keras.initializers.RandomNormal(stddev=self.initializer_range)
        self.token_embedding = keras.layers.Embedding(
            self.vocabulary_size,
            self.hidden_dim,
            embeddings_initializer=initializer,
            name="token_embedding",
            dtype=policy,
        )
        self.condition_embedding = keras.layers.Embedding(
            self.num_classes + 1 if self.num_classes else 1,
            self.hidden_dim,
            embeddings_initializer=initializer,
            name="condition_embedding",
            dtype=policy,
        )
        self.position_embedding = PositionEmbedding2D(
            self.grid_size,
            initializer_range=self.initializer_range,
            name="position_embedding",
            dtype=policy,
        )
        self.embedding_dropout = keras.layers.Dropout(self.dropout, dtype=policy)
        self.blocks = [
            TransformerBlock(
                self.num_heads,
                self.hidden_dim,
                self.mlp_dim,
                causal=True,
                dropout=self.dropout,
                attention_dropout=self.dropout,
                activation_dropout=self.dropout,
                layer_norm_epsilon=self.layer_norm_epsilon,
                name=f"block_{i}",
                dtype=policy,
            )
            for i in range(self.num_layers)
        ]
        self.final_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, name="final_norm", dtype=policy
        )
        self.logits_dense = keras.layers.Dense(self.vocabulary_size, name="logits", dtype=policy)
        self.build()

    def build(self, input_shape=None):
        sequence_shape = (None, self.sequence_length, self.hidden_dim)
        self.token_embedding.build((None, self.sequence_length))
        self.condition_embedding.build((None,))
        self.position_embedding.build(sequence_shape)
        for block in self.blocks:
            block.build(sequence_shape)
        self.final_norm.build(sequence_shape)
        self.logits_dense.build(sequence_shape)
        self.built = True

    # --- the full pass ---------------------------------------------------------------------

    def embed(self, token_ids, condition_ids, include_last=False, training=None):
        """The condition token, then the tokens (all, or all but the last, whose prediction
        nothing needs) with their positions: `(B, 1 + T', hidden_dim)`."""
        condition = self.condition_embedding(ops.cast(condition_ids, "int32"))[:, None, :]
        body = token_ids if include_last else token_ids[:, :-1]
        if body.shape[1] == 0:
            x = condition
        else:
            x = self.position_embedding(self.token_embedding(ops.cast(body, "int32")))
            x = ops.concatenate([condition, x], axis=1)
        return self.embedding_dropout(x, training=training)

    def logits(self, x, decoding_weights=None):
        """Final norm and logits (float32) of hidden states `(B, T, hidden_dim)`."""
        x = self.final_norm(x)
        if decoding_weights is None:
            return ops.cast(tokenwise(self.logits_dense, x), "float32")
        return ops.cast(project(x, decoding_weights), "float32")

    def call(self, inputs, training=None):
        x = self.embed(inputs["token_ids"], inputs["condition_ids"], training=training)
        for block in self.blocks:
            x = block(x, training=training)
        return self.logits(x)

    def features(self, token_ids, condition_ids, blocks):
        """The outputs of each of `blocks` (1-based block numbers) at the `h * w` token
        positions, averaged: a list of `(B, hidden_dim)` float32 (the paper's linear-probe
        features), from one pass through the blocks up to the deepest asked."""
        x = self.embed(token_ids, condition_ids, include_last=True)
        pooled = {}
        for number, layer in enumerate(self.blocks[: max(blocks)], start=1):
            x = layer(x, training=False)
            if number in blocks:
                pooled[number] = ops.mean(ops.cast(x[:, 1:], "float32"), axis=1)
        return [pooled[number] for number in blocks]

    # --- key/value cache: the path `VIM.generate` runs ------------------------------------

    def initial_cache(self, batch_size):
        """An empty key/value cache: one `(keys, values)` pair per block, each
        `(B, heads, h * w, head_dim)` (see `keras_vim.layers.MultiHeadSelfAttention`)."""
        shape = (
            batch_size,
            self.num_heads,
            self.sequence_length,
            self.hidden_dim // self.num_heads,
        )
        return [
            (ops.zeros(shape, dtype=self.compute_dtype), ops.zeros(shape, dtype=self.compute_dtype))
            for _ in self.blocks
        ]

    def decoding_weights(self):
        """Every kernel transposed, taken once per sampling call (see
        `keras_vim.layers.decoding_weights`), or None where the kernels as they are measure
        faster (`keras_vim.backend_ops.decoding_weights_help`)."""
        if not decoding_weights_help():
            return None
        blocks = [block.decoding_weights() for block in self.blocks]
        return {"blocks": blocks, "logits": transposed_weights(self.logits_dense)}

    def _cached_blocks(self, x, cache, slot, decoding_weights, overwrite_cache):
        new_cache = []
        for index, (block, block_cache) in enumerate(zip(self.blocks, cache)):
            x, block_cache = block(
                x,
                cache=block_cache,
                cache_index=slot,
                training=False,
                decoding_weights=decoding_weights and decoding_weights["blocks"][index],
                overwrite_cache=overwrite_cache,
            )
            new_cache.append(block_cache)
        return self.logits(x, decoding_weights and decoding_weights["logits"]), new_cache

    def start_cache(self, condition_ids, decoding_weights=None, overwrite_cache=False):
        """Runs the condition tokens `(B,)` into a new cache (slot 0).

        Returns `(logits, cache)`: the logits `(B, vocabulary_size)` of token 0 and the
        cache. `decoding_weights` (from `decoding_weights()`) and `overwrite_cache` are for
        sampling loops (see `keras_vim.layers.MultiHeadSelfAttention`).
        """
        x = self.condition_embedding(ops.cast(condition_ids, "int32"))[:, None, :]
        cache = self.initial_cache(x.shape[0])
        logits, cache = self._cached_blocks(x, cache, 0, decoding_weights, overwrite_cache)
        return logits[:, 0], cache

    def call_with_cache(
        self, token_ids, cache, cache_index, decoding_weights=None, overwrite_cache=False
    ):
        """Feeds tokens at raster positions `cache_index ..` through the cache.

        The full pass, one chunk at a time: `token_ids` `(B, T)` are the tokens at positions
        `cache_index, ..., cache_index + T - 1`; they fill cache slots `cache_index + 1, ...`
        (slot 0 holds the condition, see `start_cache`). `cache_index` may be a tensor.

        Returns `(logits, cache)`: logits `(B, T, vocabulary_size)` of the tokens at
        positions `cache_index + 1, ..., cache_index + T`, and the updated cache.
        """
        x = self.token_embedding(ops.cast(token_ids, "int32"))
        x = self.position_embedding(x, start_index=cache_index)
        return self._cached_blocks(x, cache, cache_index + 1, decoding_weights, overwrite_cache)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "grid_size": list(self.grid_size),
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "mlp_dim": self.mlp_dim,
                "num_classes": self.num_classes,
                "dropout": self.dropout,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "initializer_range": self.initializer_range,
            }
        )
        return config
