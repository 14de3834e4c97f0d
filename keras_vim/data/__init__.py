"""Datasets and tf.data input pipelines (Fashion-MNIST by default, image folders, TFDS)."""

from keras_vim.data.fashion_mnist import CLASS_NAMES, load_fashion_mnist
from keras_vim.data.idx import read_idx, write_idx
from keras_vim.data.image_files import IMAGE_EXTENSIONS, find_image_files, load_images
from keras_vim.data.pipeline import default_dataset, folder_dataset, image_dataset, tfds_dataset
from keras_vim.data.sources import load_dataset
from keras_vim.data.tokenized import token_dataset, tokenize_dataset, tokenize_on_the_fly

__all__ = [
    "CLASS_NAMES",
    "IMAGE_EXTENSIONS",
    "default_dataset",
    "find_image_files",
    "folder_dataset",
    "image_dataset",
    "load_dataset",
    "load_fashion_mnist",
    "load_images",
    "read_idx",
    "tfds_dataset",
    "token_dataset",
    "tokenize_dataset",
    "tokenize_on_the_fly",
    "write_idx",
]
