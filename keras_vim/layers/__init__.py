"""Layers: patching, Transformer blocks, quantizer, ViT and CNN encoders/decoders,
discriminator."""

from keras_vim.layers.cnn import CNNDecoder, CNNEncoder, ResidualConvBlock
from keras_vim.layers.discriminator import StyleGANDiscriminator
from keras_vim.layers.heads import TanhHead
from keras_vim.layers.patching import PatchEmbedding, Unpatchify
from keras_vim.layers.position_embedding import PositionEmbedding2D
from keras_vim.layers.quantizer import VectorQuantizer
from keras_vim.layers.transformer import MultiHeadSelfAttention, TransformerBlock
from keras_vim.layers.vit import ViTDecoder, ViTEncoder

__all__ = [
    "CNNDecoder",
    "CNNEncoder",
    "MultiHeadSelfAttention",
    "PatchEmbedding",
    "PositionEmbedding2D",
    "ResidualConvBlock",
    "StyleGANDiscriminator",
    "TanhHead",
    "TransformerBlock",
    "Unpatchify",
    "VectorQuantizer",
    "ViTDecoder",
    "ViTEncoder",
]
