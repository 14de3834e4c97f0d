"""The scores on the model cards of the shipped presets, measured on data that ships too.

Every machine has the class-balanced Fashion-MNIST subset inside the package (1000 test
images), so these scores can be reproduced offline: the tests recompute them from the
preset files and compare them with the `scores.json` written when the presets were made.
"""

import numpy as np

from keras_vim import backend_ops
from keras_vim.data.pipeline import default_dataset
from keras_vim.data.tokenized import token_dataset, tokenize_dataset, tokenizer_fingerprint
from keras_vim.metrics.tokenizer_evaluation import evaluate_tokenizer

# Where the scores are measured: the shipped subset's test split, at the library's 32x32.
SCORING_DATA = "fashion_mnist test split, shipped subset (1000 images, 100 per class)"


def _test_split(labels):
    return default_dataset("test", batch_size=250, source="subset", labels=labels, shuffle=False)


class _RoundTrip:
    """What the card's scores need of a tokenizer: its `encode` and `decode` (both compiled)
    and `num_codes`. Given the model itself, `evaluate_tokenizer` runs a logit-Laplace
    tokenizer op by op through `forward_outputs`, for a likelihood the card does not report
    (about twice as slow on JAX); the reconstructions are the same up to float32 rounding."""

    def __init__(self, tokenizer):
        self.encode, self.decode = tokenizer.encode, tokenizer.decode
        self.num_codes = tokenizer.num_codes


def score_tokenizer(tokenizer):
    """Reconstruction and codebook scores of `tokenizer` on the shipped test images."""
    report = evaluate_tokenizer(_RoundTrip(tokenizer), _test_split(labels=False))
    keys = ("l1", "l2", "psnr", "ssim", "codebook_usage", "codebook_usage_total", "dead_codes")
    return {"data": SCORING_DATA, **{k: report[k] for k in keys if k in report}}


# The test split tokenized by the last tokenizer scored, under that tokenizer's fingerprint
# (its config and weights): priors scored over one tokenizer share one tokenization.
_TOKENIZED = {}


def _tokenized_test_split(tokenizer):
    fingerprint = tokenizer_fingerprint(tokenizer)
    if fingerprint not in _TOKENIZED:
        ids, labels = tokenize_dataset(tokenizer, _test_split(labels=True), verbose=False)
        for array in (ids, labels):
            array.flags.writeable = False
        _TOKENIZED.clear()
        _TOKENIZED[fingerprint] = ids, labels
    return _TOKENIZED[fingerprint]


def score_prior(prior, tokenizer):
    """Next-token scores of a class-conditional `prior` on the tokenized shipped test images.

    Returns bits per token and next-token accuracy (teacher forcing, real class labels).
    """
    ids, labels = _tokenized_test_split(tokenizer)
    if prior.num_classes is None:
        labels = None
    if not prior.compiled:
        prior.compile()
    logs = prior.evaluate(
        token_dataset(ids, labels, batch_size=250, shuffle=False), verbose=0, return_dict=True
    )
    return {
        "data": SCORING_DATA,
        "bits_per_token": float(logs["bits_per_token"]),
        "accuracy": float(logs["accuracy"]),
        "tokens": int(np.prod(ids.shape)),
        "backend": backend_ops.backend_name(),
    }
