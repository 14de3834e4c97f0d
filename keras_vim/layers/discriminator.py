"""StyleGAN2-style residual image discriminator used for the adversarial loss of ViT-VQGAN."""

import math

import keras
from keras import layers, ops

from keras_vim.layers.host_initializers import HostHeNormal
from keras_vim.utils.checks import check_integer


def _auto_num_blocks(height, width, min_resolution=4):
    """Largest n with H and W divisible by 2**n and min(H, W) / 2**n >= `min_resolution`."""
    n = 0
    while (
        height % 2 ** (n + 1) == 0
        and width % 2 ** (n + 1) == 0
        and min(height, width) // 2 ** (n + 1) >= min_resolution
    ):
        n += 1
    return n


def mbstd_group_size_for_batch(batch_size, group_size):
    """The minibatch-stddev group size actually used for a (static) batch size.

    `min(group_size, batch_size)` when it divides the batch; otherwise the largest divisor of
    the batch in `[2, group_size]`; otherwise (e.g. a prime batch larger than the group) the
    whole batch forms a single group.
    """
    group = min(group_size, batch_size)
    if batch_size % group == 0:
        return group
    for candidate in range(group - 1, 1, -1):
        if batch_size % candidate == 0:
            return candidate
    return batch_size


@keras.saving.register_keras_serializable(package="keras_vim")
class StyleGANDiscriminator(keras.layers.Layer):
    """StyleGAN2-style residual discriminator for the ViT-VQGAN adversarial loss (Sec. 3.2).

    ViT-VQGAN trains its tokenizer with an adversarial term from a StyleGAN discriminator
    (Karras et al. 2020, "residual" D architecture). This layer maps a batch of images to one
    real/fake logit per image:

    1. images in `[0, 1]` are centred to `[-1, 1]`;
    2. `from_rgb`: 1x1 convolution to `filters` channels, leaky ReLU(0.2);
    3. `num_blocks` residual blocks, each: main path 3x3 conv -> lReLU -> 3x3 conv -> lReLU ->
       2x2 average pool; skip path 2x2 average pool -> 1x1 conv (no bias); output
       `(main + skip) / sqrt(2)`. Block `i` maps `min(filters * 2**i, max_filters)` channels to
       `min(filters * 2**(i + 1), max_filters)` channels and halves the resolution;
    4. minibatch standard deviation: one extra channel holding, for each image, the average
       over features of the standard deviation within its group of `mbstd_group_size` images.
       Images are grouped StyleGAN2-style (image `b` belongs to group `b % (B / G)`). When the
       batch size `B` is not divisible by the group size, the largest divisor of `B` between 2
       and the group size is used; if there is none (a prime `B` larger than the group size)
       the whole batch forms one group. When `B` is unknown at trace time (a TensorFlow graph
       with a dynamic batch), the whole batch forms one group;
    5. a 3x3 conv -> lReLU, flatten, dense -> lReLU, dense -> one logit.

    Downsampling is plain average pooling (no blur filter) and the learning rate is not
    equalized; weights use He-normal initialization. The logits are returned in float32 even
    under a mixed-precision policy.

    Image size rule: the height `H` and width `W` must be known when the layer is built and both
    divisible by `2**num_blocks`. With `num_blocks=None` the largest `n` such that `H` and `W`
    are divisible by `2**n` and `min(H, W) / 2**n >= 4` is used (32x32 -> 3 blocks, 256x256 ->
    6 blocks), which must be at least 1.

    Args:
        filters: int. Width of `from_rgb` and of the first block; doubled at each block.
        max_filters: int. Cap on the width of any convolution / the hidden dense layer.
        num_blocks: int or `None`. Number of downsampling residual blocks; `None` picks it from
            the image size (see above).
        mbstd_group_size: int >= 1. Group size of the minibatch standard-deviation feature
            (StyleGAN2 uses 4). `1` makes the feature identically ~0.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:

    ```python
    import numpy as np
    import keras_vim

    disc = keras_vim.layers.StyleGANDiscriminator(filters=32, max_filters=128)
    images = np.random.uniform(size=(8, 64, 64, 3)).astype("float32")
    logits = disc(images)  # (8, 1)
    loss = keras_vim.losses.generator_adversarial_loss(logits)
    ```
    """

    def __init__(
        self,
        filters=64,
        max_filters=512,
        num_blocks=None,
        mbstd_group_size=4,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = check_integer("filters", filters, minimum=1)
        self.max_filters = check_integer("max_filters", max_filters, minimum=1)
        self.num_blocks = check_integer("num_blocks", num_blocks, minimum=1, allow_none=True)
        self.mbstd_group_size = check_integer("mbstd_group_size", mbstd_group_size, minimum=1)

    def _width(self, index):
        return min(self.filters * 2**index, self.max_filters)

    def _conv(self, width, kernel_size, name, use_bias=True):
        return layers.Conv2D(
            width,
            kernel_size,
            padding="same",
            use_bias=use_bias,
            kernel_initializer=HostHeNormal(),
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                "StyleGANDiscriminator expects images of shape (batch, height, width, channels). "
                f"Received input shape: {input_shape}"
            )
        _, height, width, channels = input_shape
        if height is None or width is None or channels is None:
            raise ValueError(
                "StyleGANDiscriminator needs a known height, width and channel count. "
                f"Received input shape: {input_shape}"
            )
        num_blocks = self.num_blocks
        if num_blocks is None:
            num_blocks = _auto_num_blocks(height, width)
            if num_blocks < 1:
                raise ValueError(
                    "StyleGANDiscriminator could not choose `num_blocks`: height and width "
                    "must both be even and at least 8. Received input shape: "
                    f"{input_shape}"
                )
        factor = 2**num_blocks
        if height % factor or width % factor:
            raise ValueError(
                f"StyleGANDiscriminator with num_blocks={num_blocks} needs height and width "
                f"divisible by 2**num_blocks = {factor}. Received input shape: {input_shape}"
            )

        self.from_rgb = self._conv(self._width(0), 1, name="from_rgb")
        self.from_rgb.build((None, height, width, channels))
        self.block_convs_a = []
        self.block_convs_b = []
        self.block_skips = []
        h, w = height, width
        for i in range(num_blocks):
            c_in, c_out = self._width(i), self._width(i + 1)
            conv_a = self._conv(c_in, 3, name=f"block{i}_conv0")
            conv_b = self._conv(c_out, 3, name=f"block{i}_conv1")
            skip = self._conv(c_out, 1, name=f"block{i}_skip", use_bias=False)
            conv_a.build((None, h, w, c_in))
            conv_b.build((None, h, w, c_in))
            h, w = h // 2, w // 2
            skip.build((None, h, w, c_in))
            self.block_convs_a.append(conv_a)
            self.block_convs_b.append(conv_b)
            self.block_skips.append(skip)

        c_final = self._width(num_blocks)
        self.final_conv = self._conv(c_final, 3, name="final_conv")
        self.final_conv.build((None, h, w, c_final + 1))
        self.final_dense = layers.Dense(
            c_final,
            kernel_initializer=HostHeNormal(),
            dtype=self.dtype_policy,
            name="final_dense",
        )
        self.final_dense.build((None, h * w * c_final))
        self.output_dense = layers.Dense(1, dtype=self.dtype_policy, name="output_dense")
        self.output_dense.build((None, c_final))
        self.built = True

    def _minibatch_stddev(self, x):
        batch = ops.shape(x)[0]
        height, width, channels = x.shape[1], x.shape[2], x.shape[3]
        y = ops.cast(x, "float32")
        if isinstance(batch, int):
            group = mbstd_group_size_for_batch(batch, self.mbstd_group_size)
            # (G, M, H, W, C): image b = g * M + m belongs to group m, as in StyleGAN2.
            y = ops.reshape(y, (group, batch // group, height, width, channels))
            y = y - ops.mean(y, axis=0, keepdims=True)
            std = ops.sqrt(ops.mean(ops.square(y), axis=0) + 1e-8)
            std = ops.mean(std, axis=(1, 2, 3))
            std = ops.tile(ops.reshape(std, (1, -1, 1, 1, 1)), (group, 1, height, width, 1))
            std = ops.reshape(std, (batch, height, width, 1))
        else:
            # Dynamic batch size: one group made of the whole batch.
            y = y - ops.mean(y, axis=0, keepdims=True)
            std = ops.mean(ops.sqrt(ops.mean(ops.square(y), axis=0) + 1e-8))
            std = ops.zeros_like(y[..., :1]) + std
        return ops.concatenate([x, ops.cast(std, x.dtype)], axis=-1)

    def call(self, images):
        x = images * 2.0 - 1.0
        x = ops.leaky_relu(self.from_rgb(x), negative_slope=0.2)
        blocks = zip(self.block_convs_a, self.block_convs_b, self.block_skips, strict=True)
        for conv_a, conv_b, skip in blocks:
            y = ops.leaky_relu(conv_a(x), negative_slope=0.2)
            y = ops.leaky_relu(conv_b(y), negative_slope=0.2)
            y = ops.average_pool(y, pool_size=2, strides=2, padding="valid")
            s = skip(ops.average_pool(x, pool_size=2, strides=2, padding="valid"))
            x = (y + s) * (1.0 / math.sqrt(2.0))
        x = self._minibatch_stddev(x)
        x = ops.leaky_relu(self.final_conv(x), negative_slope=0.2)
        x = ops.reshape(x, (ops.shape(x)[0], -1))
        x = ops.leaky_relu(self.final_dense(x), negative_slope=0.2)
        return ops.cast(self.output_dense(x), "float32")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def compute_output_spec(self, images):
        return keras.KerasTensor(self.compute_output_shape(images.shape), dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "max_filters": self.max_filters,
                "num_blocks": self.num_blocks,
                "mbstd_group_size": self.mbstd_group_size,
            }
        )
        return config
