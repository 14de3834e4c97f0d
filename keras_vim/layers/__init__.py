"""Layers: patching, Transformer blocks, quantizer, ViT encoder/decoder, discriminator."""

from keras_vim.layers.discriminator import StyleGANDiscriminator
from keras_vim.layers.heads import TanhHead
from keras_vim.layers.patching import PatchEmbedding, Unpatchify
from keras_vim.layers.position_embedding import PositionEmbedding2D
from keras_vim.layers.quantizer import VectorQuantizer
from keras_vim.layers.transformer import MultiHeadSelfAttention, TransformerBlock
from keras_vim.layers.vit import ViTDecoder, ViTEncoder

__all__ = [
    "MultiHeadSelfAttention",
    "PatchEmbedding",
    "PositionEmbedding2D",
    "StyleGANDiscriminator",
    "TanhHead",
    "TransformerBlock",
    "Unpatchify",
    "VectorQuantizer",
    "ViTDecoder",
    "ViTEncoder",
]
