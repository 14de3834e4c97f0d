"""Classifier-based rejection sampling (paper Table 6): draw more samples than needed and keep
the ones a classifier scores highest.

For each requested sample, `ceil(1 / acceptance_rate)` candidates are drawn on average: a
class-conditional prior draws `ceil(n_c / rate)` candidates of each class `c` requested `n_c`
times and keeps the `n_c` to which the classifier gives the highest probability of `c`; an
unconditional prior draws `ceil(n / rate)` and keeps the `n` with the highest top-class
probability. The achieved rate (kept / drawn) is reported; it can be slightly below the
requested one because of the rounding up.
"""

import math

import numpy as np
from keras import ops

from keras_vim.utils.checks import check_integer, check_real, check_tokenizer_matches


def check_acceptance_rate(acceptance_rate):
    """Returns `acceptance_rate` as a float after checking it is a number in (0, 1] (1 keeps
    every sample)."""
    return check_real("acceptance_rate", acceptance_rate, 0, 1, include_minimum=False)


def candidates_needed(count, acceptance_rate):
    """`ceil(count / acceptance_rate)`, robust to float round-off (2 / 0.1 -> 20, not 21)."""
    return math.ceil(round(count / acceptance_rate, 9))


def _check_classifier(classifier):
    if not hasattr(classifier, "predict_proba") and not callable(classifier):
        raise TypeError(
            "`classifier` must have a `predict_proba(images)` method (e.g. "
            "keras_vim.metrics.load_domain_classifier()) or be a callable images -> class "
            f"probabilities, got {type(classifier).__name__}."
        )


def _probabilities(classifier, images, expected):
    if hasattr(classifier, "predict_proba"):
        probabilities = classifier.predict_proba(images)
    else:
        probabilities = classifier(images)
    probabilities = np.asarray(ops.convert_to_numpy(probabilities), "float64")
    if probabilities.ndim != 2 or len(probabilities) != expected:
        raise ValueError(
            f"`classifier` must return class probabilities of shape ({expected}, classes), got "
            f"{probabilities.shape}."
        )
    return probabilities


def _requested_classes(prior, num_samples, class_ids):
    """The requested class ids as a numpy array (None for an unconditional prior) and `n`."""
    class_ids, count = prior.check_sampling_request(num_samples, class_ids)
    if class_ids is not None and class_ids.max() >= prior.num_classes:
        raise ValueError(
            f"`class_ids` must be real classes in [0, {prior.num_classes - 1}] for rejection "
            f"sampling, got {class_ids.max()} (the null class)."
        )
    return class_ids, count


def _chunks(count, batch_size):
    return [(start, min(start + batch_size, count)) for start in range(0, count, batch_size)]


def _decode(tokenizer, token_ids, batch_size):
    """Decodes `(N, h, w)` ids in batches of exactly `batch_size` (padded), as numpy."""
    images = []
    for start, stop in _chunks(len(token_ids), batch_size):
        batch = token_ids[start:stop]
        padded = np.concatenate([batch, np.repeat(batch[-1:], batch_size - len(batch), axis=0)])
        decoded = ops.convert_to_numpy(tokenizer.decode(ops.convert_to_tensor(padded)))
        images.append(np.asarray(decoded, "float32")[: len(batch)])
    return np.concatenate(images)


def rejection_sample(
    prior,
    tokenizer,
    classifier,
    acceptance_rate,
    num_samples=None,
    class_ids=None,
    batch_size=64,
    seed=None,
    **generate_kwargs,
):
    """Samples images from `prior` and keeps those `classifier` is most confident about.

    Args:
        prior: a `keras_vim.models.VIM`.
        tokenizer: the `VitVQGAN` (or any object with `decode`, `grid_size`, `num_codes`) whose
            token ids the prior models.
        classifier: an object with `predict_proba(images) -> (N, classes)` (e.g.
            `keras_vim.metrics.load_domain_classifier()`) or a callable with that signature;
            images are numpy arrays `(N, H, W, C)` in [0, 1].
        acceptance_rate: the share of drawn samples kept, in (0, 1]; 1 keeps every sample
            (no rejection). The paper reports rates of 1.0, 0.5, 0.25 and 0.05.
        num_samples: samples to return (unconditional prior; or repeats of an int
            `class_ids`).
        class_ids: the class of each requested sample (class-conditional prior).
        batch_size: candidates per `generate` call; every call has this many (the last is
            padded), so the sampler compiles once.
        seed: int seed; call `i` uses `seed + i`. None: fresh draws.
        **generate_kwargs: sampling settings of `VIM.generate` (`temperature`, `top_k`,
            `top_p`, `guidance_scale`).

    Returns:
        A dict: `images` `(n, H, W, C)` float32 in [0, 1], `token_ids` `(n, h, w)`,
        `class_ids` `(n,)` (the requested ones, in order; None for an unconditional prior),
        `scores` `(n,)` (the classifier's probability of the class, or its top probability),
        `acceptance_rate` (achieved: n / candidates drawn), `requested_acceptance_rate`,
        `num_candidates`, `candidate_scores` and `candidate_class_ids` (of every candidate).

    Example:

    ```python
    classifier = keras_vim.metrics.load_domain_classifier()
    result = prior.rejection_sample(tokenizer, classifier, acceptance_rate=0.25,
                                    class_ids=np.repeat(np.arange(10), 8), seed=0)
    result["images"], result["acceptance_rate"]
    ```
    """
    rate = check_acceptance_rate(acceptance_rate)
    batch_size = check_integer("batch_size", batch_size, minimum=1)
    seed = check_integer("seed", seed, minimum=0, allow_none=True)
    if "num_samples" in generate_kwargs or "class_ids" in generate_kwargs:
        raise ValueError("Pass `num_samples` / `class_ids` once.")
    _check_classifier(classifier)
    check_tokenizer_matches(tokenizer, prior)
    requested, count = _requested_classes(prior, num_samples, class_ids)

    # The candidates: per class (class-conditional) or all at once (unconditional).
    if requested is None:
        groups = {None: count}
        candidate_classes = None
        total = candidates_needed(count, rate)
    else:
        classes, counts = np.unique(requested, return_counts=True)
        groups = dict(zip(classes.tolist(), counts.tolist()))
        candidate_classes = np.repeat(classes, [candidates_needed(n, rate) for n in counts]).astype(
            "int32"
        )
        total = len(candidate_classes)
    batch_size = min(batch_size, total)

    token_ids, scores = [], []
    for call, (start, stop) in enumerate(_chunks(total, batch_size)):
        size = stop - start
        settings = dict(generate_kwargs, seed=None if seed is None else seed + call)
        if candidate_classes is None:
            ids = prior.generate(num_samples=batch_size, **settings)
        else:
            chunk = candidate_classes[start:stop]
            padded = np.concatenate([chunk, np.full(batch_size - size, chunk[0], "int32")])
            ids = prior.generate(class_ids=padded, **settings)
        ids = np.asarray(ops.convert_to_numpy(ids))[:size]
        images = _decode(tokenizer, ids, batch_size)
        probabilities = _probabilities(classifier, images, size)
        if candidate_classes is None:
            chunk_scores = probabilities.max(axis=1)
        else:
            if probabilities.shape[1] <= chunk.max():
                raise ValueError(
                    f"`classifier` gives {probabilities.shape[1]} class probabilities, too few "
                    f"for class id {chunk.max()}."
                )
            chunk_scores = probabilities[np.arange(size), chunk]
        token_ids.append(ids)
        scores.append(chunk_scores)
    token_ids = np.concatenate(token_ids)
    scores = np.concatenate(scores)

    # Keep the best-scored candidates of each group, placed where that class was requested.
    kept = np.empty(count, "int64")
    for group, n in groups.items():
        members = np.arange(total) if group is None else np.flatnonzero(candidate_classes == group)
        best = members[np.argsort(-scores[members], kind="stable")[:n]]
        slots = np.arange(count) if group is None else np.flatnonzero(requested == group)
        kept[slots] = best
    return {
        "images": _decode(tokenizer, token_ids[kept], batch_size),
        "token_ids": token_ids[kept],
        "class_ids": requested,
        "scores": scores[kept],
        "acceptance_rate": count / total,
        "requested_acceptance_rate": rate,
        "num_candidates": total,
        "candidate_scores": scores,
        "candidate_class_ids": candidate_classes,
    }
