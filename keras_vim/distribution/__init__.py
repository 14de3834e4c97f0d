"""Scaling out: data and model parallelism through Keras' distribution API (see the README's
"Scaling out")."""

from keras_vim.distribution.arguments import (
    add_distribution_arguments,
    configure_from_args,
    distribution_argv,
)
from keras_vim.distribution.layout_map import (
    cnn_vqgan_layout_map,
    transformer_layout_map,
    vim_layout_map,
    vit_vqgan_layout_map,
)
from keras_vim.distribution.setup import DistributionSetup, configure, no_distribution

__all__ = [
    "DistributionSetup",
    "add_distribution_arguments",
    "cnn_vqgan_layout_map",
    "configure",
    "configure_from_args",
    "distribution_argv",
    "no_distribution",
    "transformer_layout_map",
    "vim_layout_map",
    "vit_vqgan_layout_map",
]
