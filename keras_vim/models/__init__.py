"""Models: the ViT-VQGAN tokenizer (stage 1)."""

from keras_vim.models.vit_vqgan import VitVQGAN

__all__ = ["VitVQGAN"]
