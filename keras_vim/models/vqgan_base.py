"""The VQGAN tokenizer shared by ViT-VQGAN and the CNN VQGAN: everything but the encoder and
decoder (quantizer, discriminator, encode/decode, input checks, training through
`keras_vim.training.VQGANTrainer`, whose `TokenizerHooks` it provides: `prepare_images`,
`forward_outputs`, `quantizer`, `discriminator`)."""

import numpy as np
from keras import ops

from keras_vim.layers.discriminator import StyleGANDiscriminator
from keras_vim.layers.patching import _to_pair
from keras_vim.layers.quantizer import VectorQuantizer
from keras_vim.losses.reconstruction import logit_laplace_mean
from keras_vim.models.preset_mixin import PresetMixin
from keras_vim.training import VQGANTrainer
from keras_vim.training.vqgan_trainer import unpack_images
from keras_vim.utils.arrays import concrete_numpy
from keras_vim.utils.checked_batches import CheckedInputs
from keras_vim.utils.checks import check_id_range, check_image_values, check_integer, check_real
from keras_vim.utils.compiled import compiled_function


class VQGANBase(PresetMixin, CheckedInputs, VQGANTrainer):
    """An image tokenizer: encoder, factorized (l2-normalized) quantizer, decoder, plus the
    discriminator used in training. Subclasses build the encoder and decoder and hand them to
    `_build_tokenizer`; see `keras_vim.models.VitVQGAN` and `keras_vim.models.CnnVQGAN`.
    `VQGANBase.from_preset(...)` loads a preset of either.

    The encoder maps images `(B, H, W, channels)` to one latent vector per
    `patch_size x patch_size` pixels, `(B, H * W / patch_size**2, latent_dim)`, in raster
    order; the decoder maps quantized vectors `(B, tokens, decoder_input_dim)` back to
    `(B, H, W, output_channels)`.
    """

    def __init__(
        self,
        image_size,
        channels,
        patch_size,
        num_codes,
        code_dim,
        beta,
        l2_normalize_codes,
        logit_laplace,
        restart_dead_codes,
        usage_decay,
        dead_code_threshold,
        discriminator_filters,
        discriminator_max_filters,
        vq_loss_reduction="mean",
        latent_norm=False,
        codebook_init_scale=1.0,
        seed_codebook_from_data=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        image_size = _to_pair(image_size, "image_size")
        patch_size = check_integer("patch_size", patch_size, minimum=1)
        if image_size[0] % patch_size or image_size[1] % patch_size:
            raise ValueError(
                f"`image_size` {image_size} must be divisible by `patch_size`={patch_size}."
            )
        channels = check_integer("channels", channels, minimum=1)
        num_codes = check_integer("num_codes", num_codes, minimum=1)
        code_dim = check_integer("code_dim", code_dim, minimum=1)
        beta = check_real("beta", beta, minimum=0)
        usage_decay = check_real("usage_decay", usage_decay, minimum=0, maximum=1)
        dead_code_threshold = check_real("dead_code_threshold", dead_code_threshold, minimum=0)
        discriminator_filters = check_integer(
            "discriminator_filters", discriminator_filters, minimum=1
        )
        discriminator_max_filters = check_integer(
            "discriminator_max_filters", discriminator_max_filters, minimum=1
        )
        self.image_size = image_size
        self.channels = channels
        self.patch_size = patch_size
        self.grid_size = (image_size[0] // patch_size, image_size[1] // patch_size)
        self.num_codes = num_codes
        self.code_dim = code_dim
        self.beta = beta
        self.l2_normalize_codes = l2_normalize_codes
        self.logit_laplace = logit_laplace
        self.restart_dead_codes = restart_dead_codes
        self.usage_decay = usage_decay
        self.dead_code_threshold = dead_code_threshold
        self.discriminator_filters = discriminator_filters
        self.discriminator_max_filters = discriminator_max_filters
        self.vq_loss_reduction = vq_loss_reduction
        self.latent_norm = latent_norm
        self.codebook_init_scale = codebook_init_scale
        self.seed_codebook_from_data = seed_codebook_from_data

    @property
    def output_channels(self):
        """Values per decoded pixel: a logit-Laplace location and log-scale per channel, or
        the pixels."""
        return 2 * self.channels if self.logit_laplace else self.channels

    def _build_tokenizer(self, encoder, decoder, latent_dim, decoder_input_dim):
        """Adds the quantizer (from `latent_dim` to `decoder_input_dim` through the codes) and
        the discriminator around the subclass's `encoder` and `decoder`, and builds all."""
        policy = self.dtype_policy
        self.latent_dim = latent_dim
        self.encoder = encoder
        self.quantizer = VectorQuantizer(
            num_codes=self.num_codes,
            code_dim=self.code_dim,
            output_dim=decoder_input_dim,
            beta=self.beta,
            l2_normalize=self.l2_normalize_codes,
            restart_dead_codes=self.restart_dead_codes,
            usage_decay=self.usage_decay,
            dead_code_threshold=self.dead_code_threshold,
            loss_reduction=self.vq_loss_reduction,
            latent_norm=self.latent_norm,
            codebook_init_scale=self.codebook_init_scale,
            seed_codebook_from_data=self.seed_codebook_from_data,
            name="quantizer",
            dtype=policy,
        )
        self.decoder = decoder
        self.decoder_input_dim = decoder_input_dim
        self.discriminator = StyleGANDiscriminator(
            filters=self.discriminator_filters,
            max_filters=self.discriminator_max_filters,
            name="discriminator",
            dtype=policy,
        )
        self._build_codebook_metrics(self.num_codes)
        self.build((None, *self.image_size, self.channels))

    def build(self, input_shape):
        self.encoder.build(input_shape)
        num_tokens = self.grid_size[0] * self.grid_size[1]
        self.quantizer.build((None, num_tokens, self.latent_dim))
        self.decoder.build((None, num_tokens, self.decoder_input_dim))
        self.discriminator.build(input_shape)
        self.built = True

    # --- the tokenizer --------------------------------------------------------------------

    def prepare_images(self, images):
        """uint8 [0, 255] -> float [0, 1] in the compute dtype; float inputs pass through."""
        images = ops.convert_to_tensor(images)
        if "int" in str(images.dtype):
            images = ops.cast(images, "float32") / 255.0
        return ops.cast(images, self.compute_dtype)

    def _decode_tokens(self, tokens, training=None):
        """`reconstruction` (images clipped to [0, 1]) and `prediction` (the same before the
        clip, float32, what the pixel losses compare: a clipped value has no gradient outside
        [0, 1]); with a logit-Laplace decoder also its `location` and `log_scale`."""
        decoded = self.decoder(tokens, training=training)
        if not self.logit_laplace:
            prediction = ops.cast(decoded, "float32")
            outputs = {}
        else:
            location = ops.cast(decoded[..., : self.channels], "float32")
            log_scale = ops.cast(decoded[..., self.channels :], "float32")
            prediction = logit_laplace_mean(location, clip=False)
            outputs = {"location": location, "log_scale": log_scale}
        reconstruction = ops.cast(ops.clip(prediction, 0.0, 1.0), self.compute_dtype)
        return {"reconstruction": reconstruction, "prediction": prediction, **outputs}

    def forward_outputs(self, images, training=None):
        """Everything one pass computes: reconstruction, ids, VQ loss, latents, and the
        logit-Laplace `location`/`log_scale` when the decoder predicts them."""
        latents = self.encoder(images, training=training)
        quantized = self.quantizer(latents, training=training)
        outputs = self._decode_tokens(quantized["quantized"], training=training)
        outputs.update({k: quantized[k] for k in ("ids", "vq_loss", "latents", "errors")})
        return outputs

    def call(self, images, training=None):
        # The shape only: values inside a compiled step cannot be read (see `check_images`).
        images = self.check_images(images, check_values=False)
        return self.forward_outputs(self.prepare_images(images), training=training)[
            "reconstruction"
        ]

    def check_images(self, images, name="images", check_values=True):
        """Validates a batch of images at the API boundary (shape and dtype, and with
        `check_values` the pixel values when they can be read here: uint8, integers in
        [0, 255] or finite floats in [0, 1]); returns it, nested lists as numpy."""
        if isinstance(images, (list, tuple)):
            images = np.asarray(images)
        if not hasattr(images, "shape"):
            raise TypeError(
                f"`{name}` must be an image array (batch, height, width, channels), got "
                f"{type(images).__name__}."
            )
        shape = tuple(images.shape)
        expected = (*self.image_size, self.channels)
        if len(shape) != 4:
            raise ValueError(
                f"`{name}` must have rank 4 (batch, height, width, channels), got shape {shape}."
            )
        # Unknown sizes (None, in a dataset's element spec) are left to the batches.
        if any(size is not None and size != want for size, want in zip(shape[1:], expected)):
            problem = (
                f"{self.channels} channel(s)"
                if shape[-1] != self.channels
                else f"size {self.image_size}"
            )
            raise ValueError(
                f"`{name}` must have shape (batch, {expected[0]}, {expected[1]}, "
                f"{expected[2]}) for this model ({problem}), got {shape}. Resize or crop to "
                f"the model's image_size (divisible by patch_size={self.patch_size})."
            )
        dtype = str(getattr(images, "dtype", ""))
        if not ("int" in dtype or "float" in dtype):
            raise TypeError(f"`{name}` must be a float or integer array, got dtype {dtype!r}.")
        values = concrete_numpy(images) if check_values and dtype != "uint8" else None
        if values is not None:
            check_image_values(name, values)
        return images

    def check_ids(self, ids, name="ids"):
        """Validates token ids `(batch, h, w)` at the API boundary; returns them, nested
        lists as numpy."""
        if isinstance(ids, (list, tuple)):
            ids = np.asarray(ids)
        if not hasattr(ids, "shape"):
            raise TypeError(
                f"`{name}` must be an integer array (batch, {self.grid_size[0]}, "
                f"{self.grid_size[1]}), got {type(ids).__name__}."
            )
        shape = tuple(ids.shape)
        if len(shape) != 3 or shape[1:] != self.grid_size:
            raise ValueError(
                f"`{name}` must have shape (batch, {self.grid_size[0]}, {self.grid_size[1]}) "
                f"for this model, got {shape}."
            )
        dtype = str(getattr(ids, "dtype", ""))
        if "int" not in dtype:
            raise TypeError(f"`{name}` must be an integer array, got dtype {dtype!r}.")
        values = concrete_numpy(ids)
        if values is not None:
            check_id_range(name, values, self.num_codes, f"num_codes={self.num_codes}")
        return ids

    def encode(self, images):
        """Images `(B, H, W, C)` -> token ids `(B, H / patch, W / patch)` (int32).

        Runs compiled (`jax.jit` / `tf.function`; eager under `torch.no_grad()` on PyTorch),
        once per input shape, reading the current weights.
        """
        images = self.check_images(images)
        if images.shape[0] == 0:  # the same empty result on every backend
            return ops.zeros((0, *self.grid_size), "int32")
        return self._compiled_function("encode", self._encode_ids)(images)

    def decode(self, ids):
        """Token ids `(B, h, w)` -> images `(B, H, W, C)` in [0, 1] (float), compiled like
        `encode`."""
        ids = self.check_ids(ids)
        if ids.shape[0] == 0:
            return ops.zeros((0, *self.image_size, self.channels), self.compute_dtype)
        return self._compiled_function("decode", self._decode_ids)(ids)

    def _encode_ids(self, images):
        latents = self.quantizer.project(self.encoder(self.prepare_images(images), training=False))
        ids, _ = self.quantizer.nearest_codes(latents)
        return ops.reshape(ids, (-1, *self.grid_size))

    def _decode_ids(self, ids):
        tokens = self.quantizer.lookup(
            ops.reshape(ids, (-1, self.grid_size[0] * self.grid_size[1]))
        )
        return self._decode_tokens(tokens, training=False)["reconstruction"]

    def _check_arrays(self, x, y):
        """In-memory images of `fit`, `evaluate` and `predict`, whole (see `CheckedInputs`)."""
        if x is None:
            return
        images = unpack_images(x)
        if isinstance(images, (list, np.ndarray)) or hasattr(images, "dtype"):
            self.check_images(images)

    def _check_batch(self, batch):
        self.check_images(unpack_images(batch))

    def _compiled_function(self, name, function):
        # Eager Keras ops dispatch one by one (~3x slower on JAX and TensorFlow at 64x64).
        return compiled_function(self, name, lambda: function)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_size": list(self.image_size),
                "channels": self.channels,
                "patch_size": self.patch_size,
                "num_codes": self.num_codes,
                "code_dim": self.code_dim,
                "beta": self.beta,
                "l2_normalize_codes": self.l2_normalize_codes,
                "logit_laplace": self.logit_laplace,
                "restart_dead_codes": self.restart_dead_codes,
                "usage_decay": self.usage_decay,
                "dead_code_threshold": self.dead_code_threshold,
                "discriminator_filters": self.discriminator_filters,
                "discriminator_max_filters": self.discriminator_max_filters,
                "vq_loss_reduction": self.vq_loss_reduction,
                "latent_norm": self.latent_norm,
                "codebook_init_scale": self.codebook_init_scale,
                "seed_codebook_from_data": self.seed_codebook_from_data,
            }
        )
        return config


# The discriminator is needed only to resume adversarial training: its own preset file.
VQGANBase.preset_extra_weights = {"discriminator": "discriminator.weights.h5"}
