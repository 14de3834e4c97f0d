"""ViT-VQGAN, the stage-1 image tokenizer (paper section 3), and its presets."""

from keras_vim.models.vit_vqgan.vit_vqgan import VitVQGAN
from keras_vim.models.vit_vqgan.vit_vqgan_presets import VIT_VQGAN_PRESETS

__all__ = ["VIT_VQGAN_PRESETS", "VitVQGAN"]
