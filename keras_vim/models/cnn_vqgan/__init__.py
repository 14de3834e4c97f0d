"""The CNN VQGAN baseline tokenizer (paper Table 4) and its presets."""

from keras_vim.models.cnn_vqgan.cnn_vqgan import CnnVQGAN
from keras_vim.models.cnn_vqgan.cnn_vqgan_presets import CNN_VQGAN_PRESETS

__all__ = ["CNN_VQGAN_PRESETS", "CnnVQGAN"]
