"""Sampling from the VIM prior: sampler objects (they own the decode loop), logit filters,
guidance, seeded draws and classifier-based rejection sampling."""

from keras_vim.sampling.draw import draw_tokens, seed_for_step
from keras_vim.sampling.filters import (
    apply_temperature,
    check_sampling_args,
    classifier_free_guidance,
    filter_logits,
    top_k_filter,
    top_p_filter,
)
from keras_vim.sampling.rejection import (
    candidates_needed,
    check_acceptance_rate,
    rejection_sample,
)
from keras_vim.sampling.samplers import (
    GreedySampler,
    Sampler,
    deserialize,
    get,
    serialize,
)

__all__ = [
    "GreedySampler",
    "Sampler",
    "apply_temperature",
    "candidates_needed",
    "check_acceptance_rate",
    "check_sampling_args",
    "classifier_free_guidance",
    "draw_tokens",
    "deserialize",
    "filter_logits",
    "get",
    "rejection_sample",
    "seed_for_step",
    "serialize",
    "top_k_filter",
    "top_p_filter",
]
