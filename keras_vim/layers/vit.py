"""The ViT encoder and decoder of ViT-VQGAN (paper section 3.1, Table 2)."""

import keras

from keras_vim.layers.heads import TanhHead
from keras_vim.layers.patching import PatchEmbedding, Unpatchify, _to_pair
from keras_vim.layers.position_embedding import PositionEmbedding2D
from keras_vim.layers.transformer import TransformerBlock


def _blocks(layer, num_layers, num_heads, hidden_dim, mlp_dim, dropout):
    return [
        TransformerBlock(
            num_heads,
            hidden_dim,
            mlp_dim,
            dropout=dropout,
            name=f"block_{i}",
            dtype=layer.dtype_policy,
        )
        for i in range(num_layers)
    ]


@keras.saving.register_keras_serializable(package="keras_vim")
class ViTEncoder(keras.layers.Layer):
    """Image -> token latents: patch embedding, ViT blocks, LayerNorm and the tanh head.

    Args:
        image_size: `(H, W)` (an int means square); divisible by `patch_size`.
        patch_size: side of the square patches.
        hidden_dim, num_layers, num_heads, mlp_dim: the Transformer's size (paper Table 2).
        patch_norm: LayerNorm right after the patch embedding. Not in the paper; it keeps the
            latents well spread on small data and so helps codebook usage (see the README).
        dropout: dropout rate (the paper uses 0).

    Example:
    >>> encoder = keras_vim.layers.ViTEncoder(32, 4, 64, 2, 4, 128)
    >>> encoder(np.zeros((2, 32, 32, 1))).shape
    (2, 64, 64)
    """

    def __init__(
        self,
        image_size,
        patch_size,
        hidden_dim,
        num_layers,
        num_heads,
        mlp_dim,
        patch_norm=False,
        dropout=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_size = _to_pair(image_size, "image_size")
        self.patch_size = patch_size
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.mlp_dim = mlp_dim
        self.patch_norm = patch_norm
        self.dropout = dropout
        self.grid_size = (self.image_size[0] // patch_size, self.image_size[1] // patch_size)
        policy = self.dtype_policy
        self.patch_embedding = PatchEmbedding(
            patch_size, hidden_dim, name="patch_embedding", dtype=policy
        )
        self.patch_layer_norm = (
            keras.layers.LayerNormalization(epsilon=1e-6, name="patch_norm", dtype=policy)
            if patch_norm
            else None
        )
        self.position_embedding = PositionEmbedding2D(
            self.grid_size, name="position_embedding", dtype=policy
        )
        self.blocks = _blocks(self, num_layers, num_heads, hidden_dim, mlp_dim, dropout)
        self.final_norm = keras.layers.LayerNormalization(
            epsilon=1e-6, name="final_norm", dtype=policy
        )
        self.head = TanhHead(mlp_dim, hidden_dim, name="head", dtype=policy)

    def build(self, input_shape):
        self.patch_embedding.build(input_shape)
        token_shape = (input_shape[0], self.grid_size[0] * self.grid_size[1], self.hidden_dim)
        if self.patch_layer_norm is not None:
            self.patch_layer_norm.build(token_shape)
        self.position_embedding.build(token_shape)
        for block in self.blocks:
            block.build(token_shape)
        self.final_norm.build(token_shape)
        self.head.build(token_shape)

    def call(self, images, training=None):
        # Centre [0, 1] pixels to [-1, 1]: zero-mean inputs matter for codebook usage.
        x = self.patch_embedding(images * 2.0 - 1.0)
        if self.patch_layer_norm is not None:
            x = self.patch_layer_norm(x)
        x = self.position_embedding(x)
        for block in self.blocks:
            x = block(x, training=training)
        return self.head(self.final_norm(x))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_size": list(self.image_size),
                "patch_size": self.patch_size,
                "hidden_dim": self.hidden_dim,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "mlp_dim": self.mlp_dim,
                "patch_norm": self.patch_norm,
                "dropout": self.dropout,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_vim")
class ViTDecoder(keras.layers.Layer):
    """Token vectors -> per-pixel outputs: ViT blocks, LayerNorm, tanh head, linear to pixels.

    The output has `output_channels` per pixel: the image channels, or twice that when the
    decoder predicts a logit-Laplace distribution (location and log-scale per channel).

    Args:
        image_size: `(H, W)` of the output image.
        patch_size: side of the square patches.
        output_channels: values per output pixel.
        hidden_dim, num_layers, num_heads, mlp_dim: the Transformer's size (paper Table 2).
        dropout: dropout rate (the paper uses 0).

    Example:
    >>> decoder = keras_vim.layers.ViTDecoder(32, 4, 2, 64, 2, 4, 128)
    >>> decoder(np.zeros((2, 64, 64))).shape
    (2, 32, 32, 2)
    """

    def __init__(
        self,
        image_size,
        patch_size,
        output_channels,
        hidden_dim,
        num_layers,
        num_heads,
        mlp_dim,
        dropout=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_size = _to_pair(image_size, "image_size")
        self.patch_size = patch_size
        self.output_channels = output_channels
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.mlp_dim = mlp_dim
        self.dropout = dropout
        self.grid_size = (self.image_size[0] // patch_size, self.image_size[1] // patch_size)
        policy = self.dtype_policy
        self.position_embedding = PositionEmbedding2D(
            self.grid_size, name="position_embedding", dtype=policy
        )
        self.blocks = _blocks(self, num_layers, num_heads, hidden_dim, mlp_dim, dropout)
        self.final_norm = keras.layers.LayerNormalization(
            epsilon=1e-6, name="final_norm", dtype=policy
        )
        self.head = TanhHead(mlp_dim, hidden_dim, name="head", dtype=policy)
        self.to_pixels = keras.layers.Dense(
            patch_size * patch_size * output_channels, name="to_pixels", dtype=policy
        )
        self.unpatchify = Unpatchify(
            patch_size, self.grid_size, output_channels, name="unpatchify", dtype=policy
        )

    def build(self, input_shape):
        token_shape = (input_shape[0], self.grid_size[0] * self.grid_size[1], self.hidden_dim)
        self.position_embedding.build(token_shape)
        for block in self.blocks:
            block.build(token_shape)
        self.final_norm.build(token_shape)
        self.head.build(token_shape)
        self.to_pixels.build(token_shape)

    def call(self, tokens, training=None):
        x = self.position_embedding(tokens)
        for block in self.blocks:
            x = block(x, training=training)
        return self.unpatchify(self.to_pixels(self.head(self.final_norm(x))))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_size": list(self.image_size),
                "patch_size": self.patch_size,
                "output_channels": self.output_channels,
                "hidden_dim": self.hidden_dim,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "mlp_dim": self.mlp_dim,
                "dropout": self.dropout,
            }
        )
        return config
