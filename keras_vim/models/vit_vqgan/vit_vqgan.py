"""ViT-VQGAN: the image tokenizer of stage 1 (paper section 3)."""

import keras

from keras_vim.distribution.layout_map import vit_vqgan_layout_map
from keras_vim.layers.vit import ViTDecoder, ViTEncoder
from keras_vim.models.vit_vqgan.vit_vqgan_presets import VIT_VQGAN_PRESETS
from keras_vim.models.vqgan_base import VQGANBase


@keras.saving.register_keras_serializable(package="keras_vim")
class VitVQGAN(VQGANBase):
    """ViT-VQGAN image tokenizer: ViT encoder, factorized l2-normalized quantizer, ViT decoder.

    Images (float in [0, 1], or uint8 in [0, 255]) of size `image_size` are split into
    `patch_size` patches; the encoder maps them to latents, the quantizer to one of `num_codes`
    codes each, the decoder back to pixels. With `logit_laplace=True` (the paper) the decoder
    predicts a logit-Laplace location and scale per channel and the image is the sigmoid of the
    location; with False (the Parti variant) it predicts pixels directly.

    The model carries a StyleGAN2-style discriminator for adversarial training (it is not used by
    `encode`/`decode`/`call`). Train with `compile()` + `fit()`; see `compile` for the losses.

    Args:
        image_size: `(H, W)` or an int; each divisible by `patch_size`.
        channels: image channels (3 for RGB, 1 for grayscale).
        patch_size: patch side in pixels (8 in the paper).
        encoder_hidden_dim, encoder_num_layers, encoder_num_heads, encoder_mlp_dim: encoder
            size (paper Table 2; `VitVQGAN.presets` lists Small/Base/Large pairs).
        decoder_hidden_dim, decoder_num_layers, decoder_num_heads, decoder_mlp_dim: decoder
            size.
        num_codes: codebook size (8192 in the paper).
        code_dim: dimension of the factorized lookup space (32 in the paper).
        beta: commitment weight of the VQ loss.
        l2_normalize_codes: l2-normalize latents and codes (the paper's choice).
        logit_laplace: predict a logit-Laplace distribution (paper) or pixels (Parti).
        patch_norm: LayerNorm after the patch embedding (not in the paper; helps usage on
            small data).
        restart_dead_codes, usage_decay, dead_code_threshold: optional dead-code re-seeding
            (see `keras_vim.layers.VectorQuantizer`); not in the paper.
        discriminator_filters, discriminator_max_filters: discriminator width.
        dropout: Transformer dropout (0 in the paper).
        **kwargs: also the quantizer's `vq_loss_reduction` ("mean" over the code dimensions,
            the default, or "sum", the paper's squared norm taken literally: `code_dim` times
            more weight against the pixel losses), `latent_norm` (LayerNorm before the
            projection into the lookup space; not in the paper) and `codebook_init_scale`
            (standard deviation of the normal codebook init) and `seed_codebook_from_data`
            (a data-dependent codebook init through the dead-code restarts); see
            `keras_vim.layers.VectorQuantizer`.

    Example:
    >>> model = keras_vim.models.VitVQGAN.from_preset("vit_vqgan_tiny")
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
        encoder_hidden_dim=768,
        encoder_num_layers=12,
        encoder_num_heads=12,
        encoder_mlp_dim=3072,
        decoder_hidden_dim=768,
        decoder_num_layers=12,
        decoder_num_heads=12,
        decoder_mlp_dim=3072,
        num_codes=8192,
        code_dim=32,
        beta=0.25,
        l2_normalize_codes=True,
        logit_laplace=True,
        patch_norm=False,
        restart_dead_codes=False,
        usage_decay=0.99,
        dead_code_threshold=0.03,
        discriminator_filters=64,
        discriminator_max_filters=512,
        dropout=0.0,
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
        self.encoder_hidden_dim = encoder_hidden_dim
        self.encoder_num_layers = encoder_num_layers
        self.encoder_num_heads = encoder_num_heads
        self.encoder_mlp_dim = encoder_mlp_dim
        self.decoder_hidden_dim = decoder_hidden_dim
        self.decoder_num_layers = decoder_num_layers
        self.decoder_num_heads = decoder_num_heads
        self.decoder_mlp_dim = decoder_mlp_dim
        self.patch_norm = patch_norm
        self.dropout = dropout
        encoder = ViTEncoder(
            self.image_size,
            self.patch_size,
            encoder_hidden_dim,
            encoder_num_layers,
            encoder_num_heads,
            encoder_mlp_dim,
            patch_norm=patch_norm,
            dropout=dropout,
            name="encoder",
            dtype=self.dtype_policy,
        )
        decoder = ViTDecoder(
            self.image_size,
            self.patch_size,
            self.output_channels,
            decoder_hidden_dim,
            decoder_num_layers,
            decoder_num_heads,
            decoder_mlp_dim,
            dropout=dropout,
            name="decoder",
            dtype=self.dtype_policy,
        )
        self._build_tokenizer(encoder, decoder, encoder_hidden_dim, decoder_hidden_dim)

    @staticmethod
    def get_layout_map(device_mesh, model_axis="model", batch_axis="batch"):
        """A `keras.distribution.LayoutMap` for `keras.distribution.ModelParallel`: splits the
        attention, MLP and head kernels and the embeddings over `model_axis` (see
        `keras_vim.distribution.vit_vqgan_layout_map`)."""
        return vit_vqgan_layout_map(device_mesh, model_axis, batch_axis)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "encoder_hidden_dim": self.encoder_hidden_dim,
                "encoder_num_layers": self.encoder_num_layers,
                "encoder_num_heads": self.encoder_num_heads,
                "encoder_mlp_dim": self.encoder_mlp_dim,
                "decoder_hidden_dim": self.decoder_hidden_dim,
                "decoder_num_layers": self.decoder_num_layers,
                "decoder_num_heads": self.decoder_num_heads,
                "decoder_mlp_dim": self.decoder_mlp_dim,
                "patch_norm": self.patch_norm,
                "dropout": self.dropout,
            }
        )
        return config


VitVQGAN.builtin_presets = VIT_VQGAN_PRESETS
