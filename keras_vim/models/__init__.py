"""Models: the ViT-VQGAN tokenizer (stage 1) and the VIM prior (stage 2)."""

from keras_vim.models.vim import VIM
from keras_vim.models.vit_vqgan import VitVQGAN

__all__ = ["VIM", "VitVQGAN"]
