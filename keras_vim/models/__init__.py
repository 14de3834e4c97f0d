"""Models: the ViT-VQGAN tokenizer (stage 1), its CNN baseline and the VIM prior (stage 2)."""

from keras_vim.models.cnn_vqgan import CnnVQGAN
from keras_vim.models.vim import VIM, VIMBackbone
from keras_vim.models.vit_vqgan import VitVQGAN
from keras_vim.models.vqgan_base import VQGANBase

__all__ = ["CnnVQGAN", "VIM", "VIMBackbone", "VQGANBase", "VitVQGAN"]
