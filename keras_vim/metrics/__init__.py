"""Metrics: codebook usage and perplexity, reconstruction quality."""

from keras_vim.layers.quantizer import codebook_perplexity, codebook_usage
from keras_vim.metrics.codebook import CodebookPerplexity, CodebookUsage
from keras_vim.metrics.reconstruction import psnr, tokenizer_report

__all__ = [
    "CodebookPerplexity",
    "CodebookUsage",
    "codebook_perplexity",
    "codebook_usage",
    "psnr",
    "tokenizer_report",
]
