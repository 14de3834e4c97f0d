"""The convolutional encoder and decoder of a plain VQGAN (Esser et al., 2021), the baseline
that ViT-VQGAN replaces (paper Table 4: CNN encoder/decoder, 63% codebook usage vs 96%)."""

import math

import keras
from keras import ops

from keras_vim.layers.patching import _to_pair
from keras_vim.utils.checks import check_integer


def _groups(channels):
    # VQGAN normalizes with 32 groups; narrower CPU-sized models use the largest divisor.
    return math.gcd(32, channels)


def check_downsampling(patch_size, channel_multipliers):
    """Validates a CNN's `patch_size` (its total downsampling) against its levels: one level
    per halving plus the full-resolution one. Returns the multipliers as a tuple of ints.

    A TypeError for a non-integer `patch_size` or multiplier, a ValueError for values out of
    range, a `patch_size` that is no power of 2 or the wrong number of multipliers."""
    patch_size = check_integer("patch_size", patch_size, minimum=1)
    if patch_size & (patch_size - 1):
        raise ValueError(
            f"`patch_size` of a CNN encoder must be a power of 2 (its downsampling), got "
            f"{patch_size!r}."
        )
    multipliers = tuple(channel_multipliers)
    levels = int(math.log2(patch_size)) + 1
    if len(multipliers) != levels:
        raise ValueError(
            f"`channel_multipliers` must hold {levels} positive ints for `patch_size`="
            f"{patch_size} (one level per halving plus the first), got {channel_multipliers!r}."
        )
    return tuple(
        check_integer(f"channel_multipliers[{i}]", m, minimum=1) for i, m in enumerate(multipliers)
    )


@keras.saving.register_keras_serializable(package="keras_vim")
class ResidualConvBlock(keras.layers.Layer):
    """GroupNorm -> swish -> 3x3 conv, twice, plus the input (through a 1x1 conv when the
    channel count changes): the residual block of VQGAN's encoder and decoder.

    Example:
    >>> block = keras_vim.layers.ResidualConvBlock(16)
    >>> block(np.zeros((2, 8, 8, 8))).shape
    (2, 8, 8, 16)
    """

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        policy = self.dtype_policy
        self.norm_1 = None  # its groups depend on the input's channels: made in build()
        self.conv_1 = keras.layers.Conv2D(filters, 3, padding="same", name="conv_1", dtype=policy)
        self.norm_2 = keras.layers.GroupNormalization(
            _groups(filters), epsilon=1e-6, name="norm_2", dtype=policy
        )
        self.conv_2 = keras.layers.Conv2D(filters, 3, padding="same", name="conv_2", dtype=policy)
        self.shortcut = None

    def build(self, input_shape):
        in_channels = input_shape[-1]
        self.norm_1 = keras.layers.GroupNormalization(
            _groups(in_channels), epsilon=1e-6, name="norm_1", dtype=self.dtype_policy
        )
        self.norm_1.build(input_shape)
        self.conv_1.build(input_shape)
        output_shape = (*input_shape[:-1], self.filters)
        self.norm_2.build(output_shape)
        self.conv_2.build(output_shape)
        if in_channels != self.filters:
            self.shortcut = keras.layers.Conv2D(
                self.filters, 1, name="shortcut", dtype=self.dtype_policy
            )
            self.shortcut.build(input_shape)

    def call(self, x):
        h = self.conv_1(ops.silu(self.norm_1(x)))
        h = self.conv_2(ops.silu(self.norm_2(h)))
        skip = x if self.shortcut is None else self.shortcut(x)
        return skip + h

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


def _stack(layer, channels, num_res_blocks, prefix):
    return [
        ResidualConvBlock(channels, name=f"{prefix}_res_{i}", dtype=layer.dtype_policy)
        for i in range(num_res_blocks)
    ]


@keras.saving.register_keras_serializable(package="keras_vim")
class CNNEncoder(keras.layers.Layer):
    """Image -> token latents with convolutions: VQGAN's encoder without attention blocks.

    A 3x3 conv to `filters` channels, then one level per entry of `channel_multipliers`, each
    `num_res_blocks` residual blocks at `filters * multiplier` channels followed (except after
    the last level) by a stride-2 3x3 conv; a middle residual block, GroupNorm, swish and a
    3x3 conv to `latent_dim`. The output grid is flattened in raster order, one latent per
    `patch_size x patch_size` pixels like `ViTEncoder`, so the two are interchangeable in front
    of the quantizer.

    Args:
        image_size: `(H, W)` (an int means square); divisible by `patch_size`.
        patch_size: the total downsampling, a power of 2.
        filters: channels of the first level.
        channel_multipliers: per-level channel multipliers, `log2(patch_size) + 1` of them.
        num_res_blocks: residual blocks per level.
        latent_dim: width of the output latents.

    Example:
    >>> encoder = keras_vim.layers.CNNEncoder(32, 4, 16, (1, 2, 2), 1, 64)
    >>> encoder(np.zeros((2, 32, 32, 1))).shape
    (2, 64, 64)
    """

    def __init__(
        self,
        image_size,
        patch_size,
        filters,
        channel_multipliers,
        num_res_blocks,
        latent_dim,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_size = _to_pair(image_size, "image_size")
        self.channel_multipliers = check_downsampling(patch_size, channel_multipliers)
        self.patch_size = patch_size
        self.filters = filters
        self.num_res_blocks = num_res_blocks
        self.latent_dim = latent_dim
        self.grid_size = (self.image_size[0] // patch_size, self.image_size[1] // patch_size)
        policy = self.dtype_policy
        self.conv_in = keras.layers.Conv2D(filters, 3, padding="same", name="conv_in", dtype=policy)
        self.levels = []
        last = len(self.channel_multipliers) - 1
        for level, multiplier in enumerate(self.channel_multipliers):
            stage = _stack(self, filters * multiplier, num_res_blocks, f"level_{level}")
            if level < last:
                stage.append(
                    keras.layers.Conv2D(
                        filters * multiplier,
                        3,
                        strides=2,
                        padding="same",
                        name=f"level_{level}_downsample_conv",
                        dtype=policy,
                    )
                )
            self.levels.append(stage)
        width = filters * self.channel_multipliers[-1]
        self.middle = ResidualConvBlock(width, name="middle", dtype=policy)
        self.norm_out = keras.layers.GroupNormalization(
            _groups(width), epsilon=1e-6, name="norm_out", dtype=policy
        )
        self.conv_out = keras.layers.Conv2D(
            latent_dim, 3, padding="same", name="conv_out", dtype=policy
        )

    def build(self, input_shape):
        shape = tuple(input_shape)
        self.conv_in.build(shape)
        shape = (*shape[:-1], self.filters)
        for stage in self.levels:
            for layer in stage:
                layer.build(shape)
                shape = layer.compute_output_shape(shape)
        self.middle.build(shape)
        self.norm_out.build(shape)
        self.conv_out.build(shape)

    def call(self, images):
        # Centre [0, 1] pixels to [-1, 1], as the ViT encoder does.
        x = self.conv_in(images * 2.0 - 1.0)
        for stage in self.levels:
            for layer in stage:
                x = layer(x)
        x = self.conv_out(ops.silu(self.norm_out(self.middle(x))))
        return ops.reshape(x, (-1, self.grid_size[0] * self.grid_size[1], self.latent_dim))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_size": list(self.image_size),
                "patch_size": self.patch_size,
                "filters": self.filters,
                "channel_multipliers": list(self.channel_multipliers),
                "num_res_blocks": self.num_res_blocks,
                "latent_dim": self.latent_dim,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_vim")
class CNNDecoder(keras.layers.Layer):
    """Token vectors -> per-pixel outputs with convolutions: VQGAN's decoder without attention.

    The tokens `(B, h * w, input_dim)` are laid out on their grid, a 3x3 conv maps them to the
    widest level, a middle residual block follows, then the levels in reverse order, each
    `num_res_blocks` residual blocks followed (except the last) by nearest-neighbour 2x
    upsampling and a 3x3 conv; GroupNorm, swish and a 3x3 conv to `output_channels`.

    Args:
        image_size: `(H, W)` of the output image.
        patch_size: the total upsampling, a power of 2.
        output_channels: values per output pixel.
        filters, channel_multipliers, num_res_blocks: as in `CNNEncoder` (the levels run from
            the widest back to `filters`).
        input_dim: width of the input token vectors.

    Example:
    >>> decoder = keras_vim.layers.CNNDecoder(32, 4, 2, 16, (1, 2, 2), 1, 64)
    >>> decoder(np.zeros((2, 64, 64))).shape
    (2, 32, 32, 2)
    """

    def __init__(
        self,
        image_size,
        patch_size,
        output_channels,
        filters,
        channel_multipliers,
        num_res_blocks,
        input_dim,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_size = _to_pair(image_size, "image_size")
        self.channel_multipliers = check_downsampling(patch_size, channel_multipliers)
        self.patch_size = patch_size
        self.output_channels = output_channels
        self.filters = filters
        self.num_res_blocks = num_res_blocks
        self.input_dim = input_dim
        self.grid_size = (self.image_size[0] // patch_size, self.image_size[1] // patch_size)
        policy = self.dtype_policy
        width = filters * self.channel_multipliers[-1]
        self.conv_in = keras.layers.Conv2D(width, 3, padding="same", name="conv_in", dtype=policy)
        self.middle = ResidualConvBlock(width, name="middle", dtype=policy)
        self.levels = []
        for level in reversed(range(len(self.channel_multipliers))):
            channels = filters * self.channel_multipliers[level]
            stage = _stack(self, channels, num_res_blocks, f"level_{level}")
            if level > 0:
                stage.append(keras.layers.UpSampling2D(2, name=f"level_{level}_upsample"))
                stage.append(
                    keras.layers.Conv2D(
                        channels,
                        3,
                        padding="same",
                        name=f"level_{level}_upsample_conv",
                        dtype=policy,
                    )
                )
            self.levels.append(stage)
        self.norm_out = keras.layers.GroupNormalization(
            _groups(filters * self.channel_multipliers[0]),
            epsilon=1e-6,
            name="norm_out",
            dtype=policy,
        )
        self.conv_out = keras.layers.Conv2D(
            output_channels, 3, padding="same", name="conv_out", dtype=policy
        )

    def build(self, input_shape):
        shape = (input_shape[0], *self.grid_size, self.input_dim)
        self.conv_in.build(shape)
        shape = self.conv_in.compute_output_shape(shape)
        self.middle.build(shape)
        for stage in self.levels:
            for layer in stage:
                layer.build(shape)
                shape = layer.compute_output_shape(shape)
        self.norm_out.build(shape)
        self.conv_out.build(shape)

    def call(self, tokens):
        x = ops.reshape(tokens, (-1, *self.grid_size, self.input_dim))
        x = self.middle(self.conv_in(x))
        for stage in self.levels:
            for layer in stage:
                x = layer(x)
        return self.conv_out(ops.silu(self.norm_out(x)))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_size": list(self.image_size),
                "patch_size": self.patch_size,
                "output_channels": self.output_channels,
                "filters": self.filters,
                "channel_multipliers": list(self.channel_multipliers),
                "num_res_blocks": self.num_res_blocks,
                "input_dim": self.input_dim,
            }
        )
        return config
