"""VIM: the autoregressive prior of stage 2 (paper section 4), a decoder-only Transformer over
image token ids in raster order."""

import math
import numbers

import keras
import numpy as np
from keras import ops

from keras_vim.distribution.layout_map import vim_layout_map
from keras_vim.distribution.replicas import scale_for_replicas
from keras_vim.layers.decoding_weights import project, transposed_weights
from keras_vim.layers.patching import _to_pair
from keras_vim.layers.position_embedding import PositionEmbedding2D
from keras_vim.layers.transformer import TransformerBlock, tokenwise
from keras_vim.models.preset_mixin import PresetMixin
from keras_vim.models.vim_presets import VIM_PRESETS
from keras_vim.sampling.draw import draw_tokens, seed_for_step
from keras_vim.sampling.filters import check_sampling_args, classifier_free_guidance, filter_logits
from keras_vim.sampling.rejection import rejection_sample
from keras_vim.training.optimizer_build import build_optimizer_before_trace
from keras_vim.training.vim_schedules import vim_optimizer
from keras_vim.utils.arrays import concrete_numpy
from keras_vim.utils.checked_batches import CheckedInputs
from keras_vim.utils.checks import check_id_range, check_integer, check_real
from keras_vim.utils.compiled import compiled_function

_INPUT_KEYS = ("tokens", "class_ids")


def _as_array(value, name, expected):
    """Nested lists and tuples as numpy; a TypeError naming `name` for what is no array."""
    if isinstance(value, (list, tuple)):
        value = np.asarray(value)
    if not (hasattr(value, "shape") and hasattr(value, "dtype")):
        raise TypeError(f"`{name}` must be {expected}, got {value!r} ({type(value).__name__}).")
    return value


def _dtype_name(x):
    try:
        return keras.backend.standardize_dtype(x.dtype)
    except ValueError:  # strings, objects: not a Keras dtype
        return str(x.dtype)


def _is_array_like(x):
    return isinstance(x, (list, np.ndarray)) or (
        hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, keras.KerasTensor)
    )


@keras.saving.register_keras_serializable(package="keras_vim")
class VIM(PresetMixin, CheckedInputs, keras.Model):
    """Vector-quantized Image Modeling prior: a decoder-only Transformer over token ids.

    The ids of a `(h, w)` token grid (from `VitVQGAN.encode`) are read in raster order. Each id
    gets a learned token embedding plus a learned 2D position embedding
    (`keras_vim.layers.PositionEmbedding2D`); causal pre-LayerNorm Transformer blocks, a final
    LayerNorm and a dense layer give logits over the `vocabulary_size` codes (paper section 4).

    The sequence starts with one condition token from its own embedding table: the class id for
    a class-conditional model (`num_classes` set; the paper's setting), or a learned start token
    for an unconditional one. Slot 0 holds the condition and predicts token 0; slot `i > 0`
    holds token `i - 1` and predicts token `i`. A class-conditional model has one more
    condition id, `null_class_id == num_classes`, the "no class" token: with
    `class_dropout > 0` it replaces the class of that fraction of training examples, which
    enables classifier-free guidance at sampling (not in the paper).

    Train with `compile()` + `fit()` on token grids `(B, h, w)`, on `(tokens, class_ids)` pairs
    or on `{"tokens": ..., "class_ids": ...}` dicts: the loss is next-token cross-entropy, and
    `accuracy` and `bits_per_token` (cross-entropy / ln 2) are reported. `fit`, `evaluate`
    and `predict` check the ids of every batch before a step sees it, whether it comes from
    arrays, a `tf.data` dataset, a generator or a `PyDataset` (see
    `keras_vim.utils.checked_batches`): an id out of range raises a ValueError. Sample with
    `generate()` (a key/value cache: one position per new token, compiled as one loop per
    backend), decode with `generate_images(tokenizer)`, and probe with `features()`.

    Args:
        vocabulary_size: number of codes of the tokenizer (8192 in the paper).
        grid_size: `(h, w)` of the token grid, or an int for a square grid (32 in the paper).
        num_layers, num_heads, hidden_dim, mlp_dim: Transformer size (VIM-Base: 24, 16, 1536,
            6144; VIM-Large: 36, 32, 2048, 8192; see `VIM.presets()`).
        num_classes: number of classes for a class-conditional model, or None.
        dropout: dropout rate on the embeddings, the residual branches, the attention
            probabilities and the MLP activations (0.1 in the paper).
        class_dropout: fraction of training examples whose class is replaced by the null class
            (class-conditional models only).
        layer_norm_epsilon: epsilon of every LayerNorm.
        initializer_range: standard deviation of the embeddings' normal initializer.
        seed: optional int seed of the class dropout and of `generate(seed=None)`.

    Example:
    >>> model = keras_vim.models.VIM(vocabulary_size=512, grid_size=8, num_layers=2,
    ...     num_heads=4, hidden_dim=64, mlp_dim=128, num_classes=10)
    >>> tokens = np.zeros((2, 8, 8), "int32")
    >>> model((tokens, np.array([3, 7]))).shape
    (2, 8, 8, 512)
    >>> model.generate(class_ids=[3, 7], seed=1).shape
    (2, 8, 8)
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
        class_dropout=0.0,
        layer_norm_epsilon=1e-6,
        initializer_range=0.02,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        vocabulary_size = check_integer("vocabulary_size", vocabulary_size, minimum=2)
        grid_size = _to_pair(grid_size, "grid_size")
        if min(grid_size) < 1:
            raise ValueError(f"`grid_size` must be positive, got {grid_size}.")
        num_layers = check_integer("num_layers", num_layers, minimum=1)
        num_heads = check_integer("num_heads", num_heads, minimum=1)
        hidden_dim = check_integer("hidden_dim", hidden_dim, minimum=1)
        mlp_dim = check_integer("mlp_dim", mlp_dim, minimum=1)
        if hidden_dim % num_heads:
            raise ValueError(
                f"`hidden_dim`={hidden_dim} must be divisible by `num_heads`={num_heads}."
            )
        num_classes = check_integer("num_classes", num_classes, minimum=1, allow_none=True)
        dropout = check_real("dropout", dropout, 0, 1, include_maximum=False)
        class_dropout = check_real("class_dropout", class_dropout, 0, 1, include_maximum=False)
        if class_dropout and num_classes is None:
            raise ValueError("`class_dropout` needs a class-conditional model (`num_classes`).")
        seed = check_integer("seed", seed, minimum=0, allow_none=True)
        layer_norm_epsilon = check_real(
            "layer_norm_epsilon", layer_norm_epsilon, minimum=0, include_minimum=False
        )
        initializer_range = check_real(
            "initializer_range", initializer_range, minimum=0, include_minimum=False
        )

        self.vocabulary_size = vocabulary_size
        self.grid_size = grid_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.mlp_dim = mlp_dim
        self.num_classes = num_classes
        self.dropout = dropout
        self.class_dropout = class_dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range
        self.seed = seed
        self.sequence_length = grid_size[0] * grid_size[1]

        policy = self.dtype_policy
        initializer = keras.initializers.RandomNormal(stddev=initializer_range)
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size,
            hidden_dim,
            embeddings_initializer=initializer,
            name="token_embedding",
            dtype=policy,
        )
        # Conditional: one row per class plus the null class; unconditional: the start token.
        self.condition_embedding = keras.layers.Embedding(
            num_classes + 1 if num_classes else 1,
            hidden_dim,
            embeddings_initializer=initializer,
            name="condition_embedding",
            dtype=policy,
        )
        self.position_embedding = PositionEmbedding2D(
            grid_size, initializer_range=initializer_range, name="position_embedding", dtype=policy
        )
        self.embedding_dropout = keras.layers.Dropout(dropout, dtype=policy)
        self.blocks = [
            TransformerBlock(
                num_heads,
                hidden_dim,
                mlp_dim,
                causal=True,
                dropout=dropout,
                attention_dropout=dropout,
                activation_dropout=dropout,
                layer_norm_epsilon=layer_norm_epsilon,
                name=f"block_{i}",
                dtype=policy,
            )
            for i in range(num_layers)
        ]
        self.final_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, name="final_norm", dtype=policy
        )
        self.logits_dense = keras.layers.Dense(vocabulary_size, name="logits", dtype=policy)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.sampling_seed_generator = keras.random.SeedGenerator(
            None if seed is None else seed + 1
        )
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        self.bits_per_token_tracker = keras.metrics.Mean(name="bits_per_token")
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

    @staticmethod
    def get_layout_map(device_mesh, model_axis="model", batch_axis="batch"):
        """A `keras.distribution.LayoutMap` for `keras.distribution.ModelParallel`: splits the
        attention and MLP kernels, the embeddings and the logits over `model_axis` (see
        `keras_vim.distribution.vim_layout_map`)."""
        return vim_layout_map(device_mesh, model_axis, batch_axis)

    @property
    def null_class_id(self):
        """The "no class" condition id of a class-conditional model (`num_classes`), or None."""
        return self.num_classes

    # --- input checks ----------------------------------------------------------------------

    def _unpack_inputs(self, inputs):
        """`tokens`, `(tokens, class_ids)` or `{"tokens", "class_ids"}` -> (tokens, class_ids)."""
        if isinstance(inputs, dict):
            unknown = sorted(set(inputs) - set(_INPUT_KEYS))
            if unknown or "tokens" not in inputs:
                raise ValueError(
                    f"Dict inputs need the key 'tokens' and optionally 'class_ids'; got keys "
                    f"{sorted(inputs)}."
                )
            return inputs["tokens"], inputs.get("class_ids")
        # A list is a `[tokens, class_ids]` pair only when its first entry is an array of rank
        # >= 2; otherwise it is nested lists of token ids.
        if isinstance(inputs, tuple) or (
            isinstance(inputs, list)
            and len(inputs) in (1, 2)
            and len(getattr(inputs[0], "shape", ())) >= 2
        ):
            if len(inputs) == 1:
                return inputs[0], None
            if len(inputs) == 2:
                return inputs[0], inputs[1]
            raise ValueError(
                f"Tuple inputs must be `(tokens,)` or `(tokens, class_ids)`, got {len(inputs)} "
                "elements."
            )
        return inputs, None

    def check_tokens(self, tokens, name="tokens", max_length=None):
        """Validates token ids `(B, h, w)` or a raster-order prefix `(B, T)`, `T <= h * w`."""
        tokens = _as_array(tokens, name, "an integer array of shape (batch, h, w)")
        max_length = self.sequence_length if max_length is None else max_length
        shape = tuple(tokens.shape)
        if len(shape) == 3:
            # Unknown sizes (None, in a dataset's element spec) are left to the batches.
            if any(size not in (None, want) for size, want in zip(shape[1:], self.grid_size)):
                raise ValueError(
                    f"`{name}` of rank 3 must have shape (batch, {self.grid_size[0]}, "
                    f"{self.grid_size[1]}) for this model's grid, got {shape}."
                )
        elif len(shape) == 2:
            if shape[1] is not None and not 1 <= shape[1] <= max_length:
                raise ValueError(
                    f"`{name}` has length {shape[1]}, but this model's context holds at most "
                    f"{max_length} tokens (grid {self.grid_size[0]}x{self.grid_size[1]}) and at "
                    "least 1."
                )
        else:
            raise ValueError(
                f"`{name}` must have shape (batch, h, w) or (batch, length), got {shape}."
            )
        dtype = _dtype_name(tokens)
        if "int" not in dtype:
            raise TypeError(f"`{name}` must be an integer array, got dtype {dtype!r}.")
        values = concrete_numpy(tokens)
        if values is not None:
            check_id_range(
                name, values, self.vocabulary_size, f"vocabulary_size={self.vocabulary_size}"
            )
        return tokens

    def check_class_ids(self, class_ids, batch_size=None, name="class_ids", required=True):
        """Validates class ids `(B,)` against `num_classes` (the null class id is allowed)."""
        if self.num_classes is None:
            if class_ids is not None:
                raise ValueError(
                    f"`{name}` was given to an unconditional VIM (num_classes=None). Build the "
                    "model with `num_classes=...` for class-conditional training and sampling, "
                    "or pass token ids alone."
                )
            return None
        if class_ids is None:
            if required:
                raise ValueError(
                    f"This VIM is class-conditional (num_classes={self.num_classes}): pass "
                    f"`{name}` (one int per example; {self.null_class_id} is the null class)."
                )
            return None
        if isinstance(class_ids, numbers.Integral) and not isinstance(class_ids, bool):
            class_ids = np.asarray(class_ids)
        class_ids = _as_array(class_ids, name, "an int or an integer array of shape (batch,)")
        dtype = _dtype_name(class_ids)
        if "int" not in dtype:
            raise TypeError(f"`{name}` must be integers, got dtype {dtype!r}.")
        shape = tuple(class_ids.shape)
        if len(shape) == 2 and shape[1] == 1:
            class_ids = ops.reshape(class_ids, (-1,))
            shape = (shape[0],)
        if len(shape) != 1:
            raise ValueError(f"`{name}` must have shape (batch,), got {shape}.")
        if batch_size is not None and shape[0] is not None and shape[0] != batch_size:
            raise ValueError(
                f"`{name}` has {shape[0]} entries but the batch has {batch_size} examples."
            )
        values = concrete_numpy(class_ids)
        if values is not None:
            detail = (
                f"num_classes={self.num_classes}: the classes 0..{self.num_classes - 1} and "
                f"the null class {self.null_class_id}"
            )
            check_id_range(name, values, self.num_classes + 1, detail)
        return class_ids

    # --- the forward pass ------------------------------------------------------------------

    def _condition_ids(self, class_ids, tokens, training=None):
        if self.num_classes is None:
            return ops.zeros_like(ops.cast(tokens[:, 0], "int32"))
        class_ids = ops.cast(class_ids, "int32")
        if training and self.class_dropout:
            draw = keras.random.uniform(ops.shape(class_ids), seed=self.seed_generator)
            class_ids = ops.where(draw < self.class_dropout, self.null_class_id, class_ids)
        return class_ids

    def _embed(self, tokens, condition_ids, include_last=False, training=None):
        """Condition token then tokens (all, or all but the last) with their positions."""
        condition = self.condition_embedding(condition_ids)[:, None, :]
        body = tokens if include_last else tokens[:, :-1]
        if body.shape[1] == 0:
            x = condition
        else:
            x = self.position_embedding(self.token_embedding(ops.cast(body, "int32")))
            x = ops.concatenate([condition, x], axis=1)
        return self.embedding_dropout(x, training=training)

    def _logits(self, x, decoding_weights=None):
        x = self.final_norm(x)
        if decoding_weights is None:
            return ops.cast(tokenwise(self.logits_dense, x), "float32")
        return ops.cast(project(x, decoding_weights), "float32")

    def call(self, inputs, training=None):
        tokens, class_ids = self._unpack_inputs(inputs)
        tokens = self.check_tokens(tokens)
        class_ids = self.check_class_ids(class_ids, tokens.shape[0])
        grid_shaped = len(tokens.shape) == 3
        if grid_shaped:
            tokens = ops.reshape(tokens, (-1, self.sequence_length))
        condition_ids = self._condition_ids(class_ids, tokens, training)
        x = self._embed(tokens, condition_ids, training=training)
        for block in self.blocks:
            x = block(x, training=training)
        logits = self._logits(x)
        if grid_shaped:
            logits = ops.reshape(logits, (-1, *self.grid_size, self.vocabulary_size))
        return logits

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, dict):
            input_shape = input_shape["tokens"]
        elif isinstance(input_shape, (tuple, list)) and isinstance(input_shape[0], (tuple, list)):
            input_shape = input_shape[0]
        return (*input_shape, self.vocabulary_size)

    # --- key/value cache -------------------------------------------------------------------

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

    def _decoding_weights(self):
        """Every kernel transposed, once per sampling call (see `layers.decoding_weights`), or
        None on TensorFlow, whose products with the kernels as they are measured faster."""
        if keras.backend.backend() == "tensorflow":
            return None
        blocks = [block.decoding_weights() for block in self.blocks]
        return {"blocks": blocks, "logits": transposed_weights(self.logits_dense)}

    def _cached_step(self, x, cache, slot, decoding_weights=None, overwrite_cache=False):
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
        return self._logits(x, decoding_weights and decoding_weights["logits"]), new_cache

    def start_cache(self, class_ids=None, batch_size=None):
        """Runs the condition token (slot 0) into a new cache.

        Args:
            class_ids: `(B,)` class ids of a class-conditional model.
            batch_size: `B` of an unconditional model.

        Returns:
            `(logits, cache)`: the logits `(B, vocabulary_size)` of token 0 and the cache.
        """
        if self.num_classes is None:
            self.check_class_ids(class_ids)
            batch_size = check_integer("batch_size", batch_size, minimum=1)
            condition_ids = ops.zeros((batch_size,), "int32")
        else:
            class_ids = self.check_class_ids(class_ids)
            condition_ids = ops.cast(class_ids, "int32")
            batch_size = condition_ids.shape[0]
        x = self.condition_embedding(condition_ids)[:, None, :]
        logits, cache = self._cached_step(x, self.initial_cache(batch_size), 0)
        return logits[:, 0], cache

    def call_with_cache(self, token_ids, cache, cache_index):
        """Feeds tokens at raster positions `cache_index ..` through the cache.

        Equivalent to the full forward pass, one chunk at a time: `token_ids` `(B, T)` are the
        tokens at positions `cache_index, ..., cache_index + T - 1`; they fill cache slots
        `cache_index + 1, ...` (slot 0 holds the condition, see `start_cache`).

        Returns:
            `(logits, cache)`: logits `(B, T, vocabulary_size)` of the tokens at positions
            `cache_index + 1, ..., cache_index + T`, and the updated cache.
        """
        if isinstance(cache_index, numbers.Integral):
            # The index first: the room left for `token_ids` depends on it.
            cache_index = check_integer(
                "cache_index", cache_index, minimum=0, maximum=self.sequence_length - 2
            )
            token_ids = self.check_tokens(
                token_ids, "token_ids", max_length=self.sequence_length - 1 - cache_index
            )
        else:
            token_ids = self.check_tokens(token_ids, "token_ids")
        x = self.token_embedding(ops.cast(token_ids, "int32"))
        x = self.position_embedding(x, start_index=cache_index)
        return self._cached_step(x, cache, cache_index + 1)

    # --- generation ------------------------------------------------------------------------

    def _generation_function(self, num_samples, top_k, use_top_p, guided):
        """The compiled sampler for one static setting; temperature, top-p and the guidance
        scale are tensor inputs, so changing them does not compile again."""
        key = (num_samples, top_k, use_top_p, guided, self.dtype_policy.name)
        length = self.sequence_length
        seed_generator = self.sampling_seed_generator

        def next_token(logits, settings, base_seed, step):
            temperature, top_p, guidance_scale = settings[0], settings[1], settings[2]
            if guided:
                logits = classifier_free_guidance(
                    logits[:num_samples], logits[num_samples:], guidance_scale
                )
            logits = filter_logits(logits, temperature, top_k, top_p if use_top_p else None)
            seed = seed_for_step(base_seed, step, seed_generator)
            return draw_tokens(logits, seed, seed_generator)

        def generate_tokens(condition_ids, settings, base_seed):
            if guided:
                null_ids = ops.full((num_samples,), self.null_class_id, "int32")
                condition_ids = ops.concatenate([condition_ids, null_ids])
            x = self.condition_embedding(condition_ids)[:, None, :]
            rows = 2 * num_samples if guided else num_samples
            weights = self._decoding_weights()
            # The loop owns its cache, so PyTorch may write it in place (see the attention).
            logits, cache = self._cached_step(x, self.initial_cache(rows), 0, weights, True)
            first = next_token(logits[:, 0], settings, base_seed, 0)
            tokens = ops.slice_update(
                ops.zeros((num_samples, length), "int32"), [0, 0], first[:, None]
            )

            def body(i, state):
                tokens, previous, cache = state
                inputs = ops.concatenate([previous, previous]) if guided else previous
                x = self.token_embedding(inputs[:, None])
                x = self.position_embedding(x, start_index=i - 1)
                logits, cache = self._cached_step(x, cache, i, weights, True)
                token = next_token(logits[:, 0], settings, base_seed, i)
                tokens = ops.slice_update(tokens, [0, i], token[:, None])
                return tokens, token, cache

            tokens, _, _ = ops.fori_loop(1, length, body, (tokens, first, cache))
            return ops.reshape(tokens, (num_samples, *self.grid_size))

        return compiled_function(self, key, lambda: generate_tokens)

    def generate(
        self,
        num_samples=None,
        class_ids=None,
        temperature=1.0,
        top_k=None,
        top_p=None,
        guidance_scale=None,
        seed=None,
    ):
        """Samples token grids `(B, h, w)` (int32) in raster order with a key/value cache.

        Each new token runs one position through the model; the whole loop is compiled once
        per batch size, `top_k` and use of top-p / guidance (`jax.jit` / `tf.function`; eager
        under `torch.no_grad()` on PyTorch). `temperature`, `top_p` and `guidance_scale` are
        inputs of the compiled loop: changing them does not compile again. The same `seed`
        gives the same samples (on one backend and machine).

        Args:
            num_samples: number of grids of an unconditional model; for a class-conditional
                one, optional: with an int `class_ids` it repeats that class.
            class_ids: class ids `(B,)` (or one int) of a class-conditional model.
            temperature: logits are divided by it (> 0; the paper samples at 1.0).
            top_k: keep only the `top_k` most likely codes (`keras_vim.sampling.top_k_filter`).
            top_p: nucleus sampling (`keras_vim.sampling.top_p_filter`).
            guidance_scale: classifier-free guidance `uncond + s * (cond - uncond)`, for
                class-conditional models trained with `class_dropout > 0`; None disables it.
            seed: int seed; None draws one from the model's sampling seed generator.
        """
        temperature, top_k, top_p = check_sampling_args(
            self.vocabulary_size, temperature, top_k, top_p
        )
        num_samples = check_integer("num_samples", num_samples, minimum=1, allow_none=True)
        guidance_scale = check_real("guidance_scale", guidance_scale, allow_none=True)
        seed = check_integer("seed", seed, minimum=0, allow_none=True)
        if self.num_classes is None:
            self.check_class_ids(class_ids)
            if num_samples is None:
                raise ValueError("`num_samples` is required for an unconditional VIM.")
            if guidance_scale is not None:
                raise ValueError(
                    "`guidance_scale` needs a class-conditional VIM (num_classes is None)."
                )
            condition_ids = ops.zeros((num_samples,), "int32")
        else:
            if guidance_scale is not None and not self.class_dropout:
                raise ValueError(
                    "`guidance_scale` needs a VIM trained with `class_dropout` > 0: this one "
                    "has class_dropout=0, so its null class was never trained. Pass "
                    "guidance_scale=None."
                )
            if class_ids is None:
                self.check_class_ids(None)
            if isinstance(class_ids, numbers.Integral) and not isinstance(class_ids, bool):
                class_ids = np.full((num_samples or 1,), class_ids, "int32")
            class_ids = self.check_class_ids(class_ids)
            if num_samples is not None and num_samples != class_ids.shape[0]:
                raise ValueError(
                    f"`num_samples`={num_samples} differs from the {class_ids.shape[0]} "
                    "`class_ids`."
                )
            condition_ids = ops.cast(ops.convert_to_tensor(class_ids), "int32")
            num_samples = int(condition_ids.shape[0])
            if num_samples < 1:
                raise ValueError("`class_ids` is empty.")
        if seed is None:
            seed = int(
                ops.convert_to_numpy(
                    keras.random.randint((), 0, 2**31 - 1, seed=self.sampling_seed_generator)
                )
            )
        base_seed = ops.convert_to_tensor(
            [seed % 2**31, 0], dtype=self.sampling_seed_generator.state.dtype
        )
        settings = ops.convert_to_tensor(
            [
                temperature,
                1.0 if top_p is None else top_p,
                1.0 if guidance_scale is None else guidance_scale,
            ],
            "float32",
        )
        function = self._generation_function(
            num_samples, top_k, top_p is not None, guidance_scale is not None
        )
        return function(condition_ids, settings, base_seed)

    def generate_images(self, tokenizer, num_samples=None, class_ids=None, **kwargs):
        """`generate(...)` then `tokenizer.decode`: images `(B, H, W, C)` in [0, 1].

        Args:
            tokenizer: the `keras_vim.models.VitVQGAN` whose token ids this model learned.
            num_samples, class_ids, **kwargs: as for `generate`.
        """
        if tuple(tokenizer.grid_size) != self.grid_size:
            raise ValueError(
                f"The tokenizer's grid {tuple(tokenizer.grid_size)} differs from this model's "
                f"{self.grid_size}."
            )
        if tokenizer.num_codes != self.vocabulary_size:
            raise ValueError(
                f"The tokenizer has {tokenizer.num_codes} codes but this model's "
                f"vocabulary_size is {self.vocabulary_size}."
            )
        ids = self.generate(num_samples=num_samples, class_ids=class_ids, **kwargs)
        return tokenizer.decode(ids)

    def rejection_sample(
        self, tokenizer, classifier, acceptance_rate, num_samples=None, class_ids=None, **kwargs
    ):
        """Classifier-based rejection sampling (paper Table 6): draws about
        `1 / acceptance_rate` candidates per requested image and keeps those to which
        `classifier` gives the highest probability of their class (for an unconditional model,
        the highest top-class probability). Returns a dict with the `images`, their `scores` and
        the achieved `acceptance_rate`; see `keras_vim.sampling.rejection_sample`.

        Example:

        ```python
        classifier = keras_vim.metrics.load_domain_classifier()
        result = prior.rejection_sample(tokenizer, classifier, 0.25, class_ids=[0, 1, 2], seed=0)
        ```
        """
        return rejection_sample(
            self, tokenizer, classifier, acceptance_rate, num_samples, class_ids, **kwargs
        )

    # --- features for linear probes --------------------------------------------------------

    def features(self, tokens, class_ids=None, block=None):
        """Average-pooled token features `(B, hidden_dim)` (float32) of one Transformer block.

        All `h * w` tokens go in (after the condition token) and the outputs of `block` at the
        token positions are averaged (the paper's linear-probe features; the condition slot is
        left out of the average).

        Args:
            tokens: token ids `(B, h, w)` or `(B, h * w)`.
            class_ids: class ids of a class-conditional model; default the null class, so
                that the features do not see the label.
            block: 1-based block number, `1 <= block <= num_layers`, the output of the
                `block`-th Transformer block; default the middle block `(num_layers + 1) // 2`
                (the paper probes block 15 of 36 for VIM-L, 10 of 24 for VIM-B).
        """
        if block is None:
            block = (self.num_layers + 1) // 2
        # 1-based: the output of the block-th block.
        block = check_integer("block", block, minimum=1, maximum=self.num_layers)
        tokens = self.check_tokens(tokens)
        if len(tokens.shape) == 2 and tokens.shape[1] != self.sequence_length:
            raise ValueError(
                f"`tokens` must hold whole grids of {self.sequence_length} tokens, got shape "
                f"{tuple(tokens.shape)}."
            )
        tokens = ops.reshape(tokens, (-1, self.sequence_length))
        if self.num_classes is not None and class_ids is None:
            class_ids = ops.full((tokens.shape[0],), self.null_class_id, "int32")
        class_ids = self.check_class_ids(class_ids, tokens.shape[0])
        x = self._embed(tokens, self._condition_ids(class_ids, tokens), include_last=True)
        for layer in self.blocks[:block]:
            x = layer(x, training=False)
        return ops.mean(ops.cast(x[:, 1:], "float32"), axis=1)

    # --- training --------------------------------------------------------------------------

    def compile(self, optimizer=None, **kwargs):
        """Configures training: next-token cross-entropy with `accuracy` and `bits_per_token`.

        Args:
            optimizer: default `keras_vim.training.vim_schedules.vim_optimizer()` (the paper's
                450k-step schedule; pass your own for shorter runs).
            **kwargs: other `keras.Model.compile` arguments (`jit_compile`,
                `steps_per_execution`, ...). The loss and metrics are built in.
        """
        for name in ("loss", "metrics", "weighted_metrics", "loss_weights"):
            if kwargs.get(name) is not None:
                raise ValueError(
                    f"VIM.compile() takes no `{name}`: the next-token cross-entropy, accuracy "
                    "and bits-per-token are built in."
                )
        super().compile(optimizer=vim_optimizer() if optimizer is None else optimizer, **kwargs)

    def compile_from_config(self, config):
        # Keras skips `compile()` on load for overridden `compile` methods unless told how.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def _as_model_inputs(self, data):
        """Keras' `(x, y)` -> model inputs: the `y` of `(tokens, class_ids)` batches is the
        class, which the forward pass needs."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if sample_weight is not None:
            raise ValueError("VIM training does not support `sample_weight`.")
        if y is None:
            return (x,)
        if self.num_classes is None:
            raise ValueError(
                "The batches hold class ids (the `y` of `(tokens, class_ids)`), but this VIM is "
                "unconditional (num_classes=None). Feed token ids alone, or build the model "
                "with `num_classes`."
            )
        if isinstance(x, dict):
            if "class_ids" in x:
                raise ValueError("Class ids were given both in the input dict and as `y`.")
            return ({**x, "class_ids": y},)
        return ({"tokens": x, "class_ids": y},)

    def make_train_function(self, force=False):
        if keras.backend.backend() == "tensorflow":
            build_optimizer_before_trace(self)
        return super().make_train_function(force)

    # Keras' JAX trainer passes `(state, data)`, the TensorFlow and PyTorch ones `(data)`.
    def train_step(self, *args):
        *state, data = args
        return super().train_step(*state, self._as_model_inputs(data))

    def test_step(self, *args):
        *state, data = args
        return super().test_step(*state, self._as_model_inputs(data))

    def predict_step(self, *args):
        *state, data = args
        return super().predict_step(*state, self._as_model_inputs(data))

    def _cross_entropy(self, x, y_pred):
        tokens, _ = self._unpack_inputs(x)
        length = math.prod(tokens.shape[1:])
        targets = ops.reshape(ops.cast(tokens, "int32"), (-1, length))
        logits = ops.reshape(ops.cast(y_pred, "float32"), (-1, length, self.vocabulary_size))
        losses = keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
        return ops.mean(losses), targets, logits

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss, _, _ = self._cross_entropy(x, y_pred)
        if self.losses:
            loss = loss + ops.sum(self.losses)
        # Per replica under TensorFlow's MirroredStrategy (as Keras' own compute_loss does).
        return scale_for_replicas(loss)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        loss, targets, logits = self._cross_entropy(x, y_pred)
        self.bits_per_token_tracker.update_state(loss / math.log(2.0))
        self.accuracy_tracker.update_state(targets, logits)
        return self.get_metrics_result()

    def _check_arrays(self, x, y):
        """Checks in-memory data whole (see `CheckedInputs`); other inputs pass."""
        if x is None or not (isinstance(x, (dict, tuple)) or _is_array_like(x)):
            return
        tokens, class_ids = self._unpack_inputs(x)
        if y is not None:
            if class_ids is not None:
                raise ValueError("Class ids were given both in `x` and as `y`.")
            class_ids = y
        tokens = self.check_tokens(tokens)
        self.check_class_ids(class_ids, tokens.shape[0])

    def _check_batch(self, batch):
        """Checks one batch of a dataset or generator as the steps would receive it."""
        (inputs,) = self._as_model_inputs(batch)
        tokens, class_ids = self._unpack_inputs(inputs)
        tokens = self.check_tokens(tokens)
        self.check_class_ids(class_ids, tokens.shape[0])

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
                "class_dropout": self.class_dropout,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "initializer_range": self.initializer_range,
                "seed": self.seed,
            }
        )
        return config


VIM.builtin_presets = VIM_PRESETS
