"""What the recipes share, as library functions: loading models and images by name, and the
stage-1 run (train a tokenizer into a run directory)."""

from keras_vim.pipelines.loading import (
    decode_in_batches,
    first_images,
    load_model,
    load_tokenizer_and_prior,
    split_dataset,
)
from keras_vim.pipelines.tokenizer_training import TokenizerTraining, train_tokenizer

__all__ = [
    "TokenizerTraining",
    "decode_in_batches",
    "first_images",
    "load_model",
    "load_tokenizer_and_prior",
    "split_dataset",
    "train_tokenizer",
]
