"""Inception Score (Salimans et al. 2016) from a classifier's class probabilities."""

import numpy as np

from keras_vim.utils.checks import check_integer


def inception_score(probabilities, splits=10, from_logits=False):
    """`exp(E_x KL(p(y|x) || p(y)))`, averaged over `splits` equal parts of the samples.

    As in the original code (and every published number), the samples are cut into `splits`
    consecutive parts; each part gets its own marginal `p(y)` and score; the mean and standard
    deviation of the part scores are returned. The score lies in `[1, classes]`: 1 when every
    sample gets the same prediction, `K` when the predictions are confident and spread evenly
    over `K` classes. For FID-comparable numbers use the softmax of `FIDInception`'s 1008
    logits.

    Args:
        probabilities: `(n, classes)` class probabilities (rows summing to 1), or logits with
            `from_logits=True`.
        splits: number of parts (10 in the literature); at most `n`.
        from_logits: apply a softmax first.

    Returns:
        `(mean, std)` as Python floats.

    Example:

    >>> keras_vim.metrics.inception_score(np.eye(4)[np.arange(40) % 4], splits=2)
    (4.0, 0.0)
    """
    p = np.asarray(probabilities, dtype="float64")
    if p.ndim != 2:
        raise ValueError(f"`probabilities` must have shape (samples, classes), got {p.shape}.")
    splits = check_integer("splits", splits, minimum=1, maximum=len(p))  # at most the samples
    if from_logits:
        p = np.exp(p - p.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
    elif np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError(
            "`probabilities` must be non-negative rows summing to 1 (pass logits with "
            "`from_logits=True`)."
        )
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(axis=0, keepdims=True)
        # 0 log 0 = 0: classes a sample never predicts add nothing.
        terms = np.where(
            part > 0,
            part * (np.log(np.maximum(part, 1e-300)) - np.log(np.maximum(marginal, 1e-300))),
            0.0,
        )
        scores.append(np.exp(np.mean(np.sum(terms, axis=1))))
    return float(np.mean(scores)), float(np.std(scores))
