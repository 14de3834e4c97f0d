"""The VIM prior (stage 2): `VIMBackbone` (the network) and the `VIM` task (training,
sampling, features, presets)."""

from keras_vim.models.vim.vim import VIM
from keras_vim.models.vim.vim_backbone import VIMBackbone

__all__ = ["VIM", "VIMBackbone"]
