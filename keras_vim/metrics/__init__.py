"""Metrics: codebook usage and perplexity."""

from keras_vim.layers.quantizer import codebook_perplexity, codebook_usage
from keras_vim.metrics.codebook import CodebookPerplexity, CodebookUsage

__all__ = ["CodebookPerplexity", "CodebookUsage", "codebook_perplexity", "codebook_usage"]
