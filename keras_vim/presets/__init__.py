"""Trained presets shipped with keras_vim (one directory each) and the scores on their cards."""

from keras_vim.presets.scoring import score_prior, score_tokenizer

__all__ = ["score_prior", "score_tokenizer"]
