"""VIM: the stage-2 prior as a task (paper section 4): a `VIMBackbone` plus what training
and sampling need (checked inputs, class dropout, the loss, `generate` with a sampler)."""

import numbers

import keras
from keras import ops

from keras_vim.distribution.layout_map import vim_layout_map
from keras_vim.models.preset_mixin import PresetMixin
from keras_vim.models.vim.vim_backbone import VIMBackbone
from keras_vim.models.vim.vim_inputs import VIMInputs
from keras_vim.models.vim.vim_presets import VIM_PRESETS
from keras_vim.models.vim.vim_training import VIMTraining
from keras_vim.sampling import samplers
from keras_vim.sampling.rejection import rejection_sample
from keras_vim.utils.checks import check_integer, check_real, check_tokenizer_matches
from keras_vim.utils.compiled import compiled_function

_ARCHITECTURE = (
    *("vocabulary_size", "grid_size", "num_layers", "num_heads", "hidden_dim", "mlp_dim"),
    *("num_classes", "dropout", "layer_norm_epsilon", "initializer_range", "sequence_length"),
)


@keras.saving.register_keras_serializable(package="keras_vim")
class VIM(PresetMixin, VIMTraining, VIMInputs, keras.Model):
    """Vector-quantized Image Modeling prior: a decoder-only Transformer over token ids.

    The ids of a `(h, w)` token grid (from `VitVQGAN.encode`) are read in raster order by a
    `keras_vim.models.VIMBackbone` (`self.backbone`): token plus 2D position embeddings,
    causal pre-LayerNorm Transformer blocks, a final LayerNorm and logits over the
    `vocabulary_size` codes (paper section 4).

    The sequence starts with one condition token: the class id for a class-conditional model
    (`num_classes` set; the paper's setting), or a learned start token for an unconditional
    one. A class-conditional model has one more condition id, `null_class_id == num_classes`,
    the "no class" token: with `class_dropout > 0` it replaces the class of that fraction of
    training examples, which enables classifier-free guidance at sampling (not in the paper).

    Train with `compile()` + `fit()` on token grids `(B, h, w)`, on `(tokens, class_ids)` pairs
    or on `{"tokens": ..., "class_ids": ...}` dicts: the loss is next-token cross-entropy, and
    `accuracy` and `bits_per_token` (cross-entropy / ln 2) are reported. `fit`, `evaluate`
    and `predict` check the ids of every batch before a step sees it, whether it comes from
    arrays, a `tf.data` dataset, a generator or a `PyDataset` (see
    `keras_vim.utils.checked_batches`): an id out of range raises a ValueError. Sample with
    `generate()` (a key/value cache: one position per new token, the loop of a
    `keras_vim.sampling.Sampler` compiled once per backend), decode with
    `generate_images(tokenizer)`, and probe with `features()`.

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
        # The backbone checks the architecture's arguments.
        self.backbone = VIMBackbone(
            vocabulary_size,
            grid_size,
            num_layers,
            num_heads,
            hidden_dim,
            mlp_dim,
            num_classes=num_classes,
            dropout=dropout,
            layer_norm_epsilon=layer_norm_epsilon,
            initializer_range=initializer_range,
            name="backbone",
            dtype=self.dtype_policy,
        )
        class_dropout = check_real("class_dropout", class_dropout, 0, 1, include_maximum=False)
        if class_dropout and num_classes is None:
            raise ValueError("`class_dropout` needs a class-conditional model (`num_classes`).")
        self.seed = check_integer("seed", seed, minimum=0, allow_none=True)
        self.class_dropout = class_dropout
        for name in _ARCHITECTURE:  # read from the backbone, which checked them
            setattr(self, name, getattr(self.backbone, name))
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.sampling_seed_generator = keras.random.SeedGenerator(
            None if self.seed is None else self.seed + 1
        )
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        self.bits_per_token_tracker = keras.metrics.Mean(name="bits_per_token")
        self.sampler = samplers.Sampler()
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

    # --- the forward pass ------------------------------------------------------------------

    def _condition_ids(self, class_ids, tokens, training=None):
        if self.num_classes is None:
            return ops.zeros_like(ops.cast(tokens[:, 0], "int32"))
        class_ids = ops.cast(class_ids, "int32")
        if training and self.class_dropout:
            draw = keras.random.uniform(ops.shape(class_ids), seed=self.seed_generator)
            class_ids = ops.where(draw < self.class_dropout, self.null_class_id, class_ids)
        return class_ids

    def call(self, inputs, training=None):
        tokens, class_ids = self._unpack_inputs(inputs)
        tokens = self.check_tokens(tokens)
        class_ids = self.check_class_ids(class_ids, tokens.shape[0])
        grid_shaped = len(tokens.shape) == 3
        if grid_shaped:
            tokens = ops.reshape(tokens, (-1, self.sequence_length))
        condition_ids = self._condition_ids(class_ids, tokens, training)
        inputs = {"token_ids": tokens, "condition_ids": condition_ids}
        logits = self.backbone(inputs, training=training)
        if grid_shaped:
            logits = ops.reshape(logits, (-1, *self.grid_size, self.vocabulary_size))
        return logits

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, dict):
            input_shape = input_shape["tokens"]
        elif isinstance(input_shape, (tuple, list)) and isinstance(input_shape[0], (tuple, list)):
            input_shape = input_shape[0]
        return (*input_shape, self.vocabulary_size)

    # --- key/value cache: checked entry points to the backbone's ---------------------------

    def initial_cache(self, batch_size):
        """An empty key/value cache (see `VIMBackbone.initial_cache`)."""
        return self.backbone.initial_cache(batch_size)

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
            condition_ids = ops.cast(self.check_class_ids(class_ids), "int32")
        return self.backbone.start_cache(condition_ids)

    def call_with_cache(self, token_ids, cache, cache_index):
        """`VIMBackbone.call_with_cache` with checked `token_ids` and `cache_index`: feeds the
        tokens `(B, T)` at raster positions `cache_index ..` through the cache and returns
        `(logits, cache)`, logits `(B, T, vocabulary_size)` of the next positions."""
        if isinstance(cache_index, numbers.Integral):
            # The index first: the room left for `token_ids` depends on it.
            cache_index = check_integer(
                "cache_index", cache_index, minimum=0, maximum=self.sequence_length - 2
            )
            room = self.sequence_length - 1 - cache_index
            token_ids = self.check_tokens(token_ids, "token_ids", max_length=room)
        else:
            token_ids = self.check_tokens(token_ids, "token_ids")
        return self.backbone.call_with_cache(token_ids, cache, cache_index)

    # --- generation ------------------------------------------------------------------------

    def decode_step(self, decoding_weights=None):
        """The sampler's `next(token_ids, cache, index)`: the token at `index - 1` through
        `VIMBackbone.call_with_cache` (the path the cached-equals-full test checks), writing
        the cache in place, and the logits `(R, V)` of the token at `index`."""

        def next(token_ids, cache, index):
            logits, cache = self.backbone.call_with_cache(
                token_ids[:, None], cache, index - 1, decoding_weights, overwrite_cache=True
            )
            return logits[:, 0], cache

        return next

    def _generation_function(self, num_samples, sampler):
        """The compiled loop of one static setting (`sampler.compile_key()`); the sampler's
        value settings are a tensor input, so changing them does not compile again."""
        key = (num_samples, sampler.compile_key(), self.dtype_policy.name)

        def make():
            def generate_tokens(condition_ids, settings, base_seed):
                if sampler.guided:
                    null_ids = ops.full((num_samples,), self.null_class_id, "int32")
                    condition_ids = ops.concatenate([condition_ids, null_ids])
                weights = self.backbone.decoding_weights()
                # The loop owns its cache, so PyTorch may write it in place (see the attention).
                logits, cache = self.backbone.start_cache(condition_ids, weights, True)
                next = self.decode_step(weights)
                tokens = sampler(next, logits, cache, self.sequence_length, base_seed, settings)
                return ops.reshape(tokens, (num_samples, *self.grid_size))

            return generate_tokens

        return compiled_function(self, key, make)

    def generate(
        self,
        num_samples=None,
        class_ids=None,
        temperature=None,
        top_k=None,
        top_p=None,
        guidance_scale=None,
        seed=None,
    ):
        """Samples token grids `(B, h, w)` (int32) in raster order with a key/value cache.

        The sampler set by `compile(sampler=...)` (default `keras_vim.sampling.Sampler()`:
        temperature 1, no filters) runs the loop; the keywords below replace its settings for
        this call (None keeps them). Each new token runs one position through the backbone;
        the whole loop is compiled once per batch size and static setting (the sampler's
        class, `top_k`, use of top-p / guidance): `jax.jit` / `tf.function`, eager under
        `torch.no_grad()` on PyTorch. The same `seed` gives the same samples (on one backend
        and machine).

        Args:
            num_samples: number of grids of an unconditional model; for a class-conditional
                one, optional: with an int `class_ids` it repeats that class.
            class_ids: class ids `(B,)` (or one int) of a class-conditional model.
            temperature: logits are divided by it (> 0; the paper samples at 1.0).
            top_k: keep only the `top_k` most likely codes (`keras_vim.sampling.top_k_filter`).
            top_p: nucleus sampling (`keras_vim.sampling.top_p_filter`).
            guidance_scale: classifier-free guidance `uncond + s * (cond - uncond)`, for
                class-conditional models trained with `class_dropout > 0`.
            seed: int seed; None draws one from the model's sampling seed generator.
        """
        # `top_k` first, against the vocabulary; the sampler checks the other settings.
        top_k = check_integer(
            "top_k", top_k, minimum=1, maximum=self.vocabulary_size, allow_none=True
        )
        seed = check_integer("seed", seed, minimum=0, allow_none=True)
        given = {
            "temperature": temperature,
            "top_k": top_k,
            "top_p": top_p,
            "guidance_scale": guidance_scale,
        }
        given = {name: value for name, value in given.items() if value is not None}
        sampler = self.sampler.with_settings(**given) if given else self.sampler
        sampler.check_vocabulary(self.vocabulary_size)
        class_ids, num_samples = self.check_sampling_request(num_samples, class_ids)
        if sampler.guided and self.num_classes is None:
            raise ValueError(
                "`guidance_scale` needs a class-conditional VIM (num_classes is None)."
            )
        if sampler.guided and not self.class_dropout:
            raise ValueError(
                "`guidance_scale` needs a VIM trained with `class_dropout` > 0: this one has "
                "class_dropout=0, so its null class was never trained. Pass guidance_scale=None."
            )
        if class_ids is None:
            condition_ids = ops.zeros((num_samples,), "int32")
        else:
            condition_ids = ops.convert_to_tensor(class_ids, "int32")
        if seed is None:
            draw = keras.random.randint((), 0, 2**31 - 1, seed=self.sampling_seed_generator)
            seed = int(ops.convert_to_numpy(draw))
        function = self._generation_function(num_samples, sampler)
        return function(condition_ids, sampler.settings(), sampler.seed_tensor(seed))

    def generate_images(self, tokenizer, num_samples=None, class_ids=None, **kwargs):
        """`generate(...)` then `tokenizer.decode`: images `(B, H, W, C)` in [0, 1].

        Args:
            tokenizer: the `keras_vim.models.VitVQGAN` whose token ids this model learned.
            num_samples, class_ids, **kwargs: as for `generate`.
        """
        check_tokenizer_matches(tokenizer, self)
        ids = self.generate(num_samples=num_samples, class_ids=class_ids, **kwargs)
        return tokenizer.decode(ids)

    def rejection_sample(
        self, tokenizer, classifier, acceptance_rate, num_samples=None, class_ids=None, **kwargs
    ):
        """Classifier-based rejection sampling (paper Table 6): keeps the candidates that
        `classifier` scores highest, about `acceptance_rate` of those drawn; returns a dict
        with the `images`, their `scores` and the achieved `acceptance_rate` (see
        `keras_vim.sampling.rejection_sample`, which takes the same arguments)."""
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
                (the paper probes block 15 of 36 for VIM-L, 10 of 24 for VIM-B). A list or
                tuple of block numbers gives the features of each, stacked
                `(len(block), B, hidden_dim)`, from one pass through the blocks.
        """
        several = isinstance(block, (list, tuple))
        blocks = (
            list(block) if several else [(self.num_layers + 1) // 2 if block is None else block]
        )
        if not blocks:
            raise ValueError("`block` must name at least one block, got an empty sequence.")
        blocks = [check_integer("block", b, minimum=1, maximum=self.num_layers) for b in blocks]
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
        pooled = self.backbone.features(tokens, self._condition_ids(class_ids, tokens), blocks)
        return ops.stack(pooled) if several else pooled[0]

    # --- presets and config ----------------------------------------------------------------

    # A preset's model.weights.h5 holds the backbone's weights (keras-hub's layout for a task
    # without weights of its own), under the same paths as before the backbone/task split.
    def _preset_weights_owner(self):
        return self.backbone

    def get_config(self):
        config = super().get_config()
        architecture = self.backbone.get_config()
        config.update({name: architecture[name] for name in _ARCHITECTURE if name in architecture})
        config.update({"class_dropout": self.class_dropout, "seed": self.seed})
        return config


VIM.builtin_presets = VIM_PRESETS
