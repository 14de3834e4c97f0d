"""CNN VQGAN: the convolutional tokenizer ViT-VQGAN is compared with (paper Table 4)."""

import keras

from keras_vim.distribution.layout_map import cnn_vqgan_layout_map
from keras_vim.layers.cnn import CNNDecoder, CNNEncoder, check_downsampling
from keras_vim.models.cnn_vqgan.cnn_vqgan_presets import CNN_VQGAN_PRESETS
from keras_vim.models.vqgan_base import VQGANBase
from keras_vim.utils.checks import check_integer


@keras.saving.register_keras_serializable(package="keras_vim")
class CnnVQGAN(VQGANBase):
    """VQGAN with a convolutional encoder and decoder and ViT-VQGAN's quantizer and training.

    Everything but the encoder and decoder is shared with `VitVQGAN`: the factorized,
    l2-normalized code lookup, the logit-Laplace output, the losses, the discriminator, the
    `encode`/`decode` API, presets and `fit`. So the two differ only where the paper's ablation
    differs ("CNN encoder/decoder": 63% codebook usage against ViT's 96%), and tokens from
    either feed `keras_vim.models.VIM` alike. The encoder and decoder are VQGAN's (Esser et
    al., 2021) residual CNNs without the attention blocks.

    Args:
        image_size: `(H, W)` or an int; each divisible by `patch_size`.
        channels: image channels.
        patch_size: the encoder's downsampling (a power of 2): one token per
            `patch_size x patch_size` pixels, as in `VitVQGAN`.
        filters: channels of the first (full-resolution) level.
        channel_multipliers: channels of each level in units of `filters`,
            `log2(patch_size) + 1` of them.
        num_res_blocks: residual blocks per level.
        latent_dim: width of the encoder's output and of the decoder's input.
        num_codes, code_dim, beta, l2_normalize_codes, logit_laplace, restart_dead_codes,
            usage_decay, dead_code_threshold, discriminator_filters, discriminator_max_filters:
            as in `VitVQGAN`.

    Example:
    >>> model = keras_vim.models.CnnVQGAN.from_preset("cnn_vqgan_tiny")
    >>> ids = model.encode(np.zeros((2, 32, 32, 1), "float32"))
    >>> ids.shape
    (2, 8, 8)
    >>> model.decode(ids).shape
    (2, 32, 32, 1)
    """

    def __init__(
        self,
        image_size=256,
        channels=3,
        patch_size=8,
        filters=128,
        channel_multipliers=(1, 1, 2, 4),
        num_res_blocks=2,
        latent_dim=256,
        num_codes=8192,
        code_dim=32,
        beta=0.25,
        l2_normalize_codes=True,
        logit_laplace=True,
        restart_dead_codes=False,
        usage_decay=0.99,
        dead_code_threshold=0.03,
        discriminator_filters=64,
        discriminator_max_filters=512,
        **kwargs,
    ):
        super().__init__(
            image_size=image_size,
            channels=channels,
            patch_size=patch_size,
            num_codes=num_codes,
            code_dim=code_dim,
            beta=beta,
            l2_normalize_codes=l2_normalize_codes,
            logit_laplace=logit_laplace,
            restart_dead_codes=restart_dead_codes,
            usage_decay=usage_decay,
            dead_code_threshold=dead_code_threshold,
            discriminator_filters=discriminator_filters,
            discriminator_max_filters=discriminator_max_filters,
            **kwargs,
        )
        self.channel_multipliers = check_downsampling(patch_size, channel_multipliers)
        filters = check_integer("filters", filters, minimum=1)
        num_res_blocks = check_integer("num_res_blocks", num_res_blocks, minimum=1)
        latent_dim = check_integer("latent_dim", latent_dim, minimum=1)
        self.filters = filters
        self.num_res_blocks = num_res_blocks
        levels = (filters, self.channel_multipliers, num_res_blocks)
        encoder = CNNEncoder(
            self.image_size,
            patch_size,
            *levels,
            latent_dim,
            name="encoder",
            dtype=self.dtype_policy,
        )
        decoder = CNNDecoder(
            self.image_size,
            patch_size,
            self.output_channels,
            *levels,
            latent_dim,
            name="decoder",
            dtype=self.dtype_policy,
        )
        self._build_tokenizer(encoder, decoder, latent_dim, latent_dim)

    @staticmethod
    def get_layout_map(device_mesh, model_axis="model", batch_axis="batch"):
        """A `keras.distribution.LayoutMap` for `keras.distribution.ModelParallel`: splits
        the encoder's and decoder's convolution kernels by output channel over `model_axis`
        (see `keras_vim.distribution.cnn_vqgan_layout_map`)."""
        return cnn_vqgan_layout_map(device_mesh, model_axis, batch_axis)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "channel_multipliers": list(self.channel_multipliers),
                "num_res_blocks": self.num_res_blocks,
                "latent_dim": self.latent_dim,
            }
        )
        return config


CnnVQGAN.builtin_presets = CNN_VQGAN_PRESETS
