"""Fréchet distance between two sets of features, each summarized as a Gaussian.

With means `mu_a, mu_b` and covariances `S_a, S_b`,

    d^2 = |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2)),

the squared 2-Wasserstein distance between the Gaussians. On Inception pool features this is
FID (Heusel et al. 2017); it works with any feature extractor.
"""

import numpy as np


def _as_features(features, name):
    features = np.asarray(features, dtype="float64")
    if features.ndim != 2:
        raise ValueError(f"`{name}` must have shape (samples, dims), got {features.shape}.")
    if len(features) < 2:
        raise ValueError(
            f"`{name}` needs at least 2 samples for a covariance, got {len(features)}."
        )
    if not np.all(np.isfinite(features)):
        raise ValueError(f"`{name}` contains NaN or infinite values.")
    return features


def feature_statistics(features):
    """Mean `(d,)` and unbiased covariance `(d, d)` of `features` `(n, d)`, in float64."""
    features = _as_features(features, "features")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _check_covariance(name, sigma):
    """Raises unless `sigma` is finite, symmetric and positive semi-definite (up to round-off):
    the trace formula below assumes it, and would return a meaningless distance otherwise."""
    if not np.all(np.isfinite(sigma)):
        raise ValueError(f"`{name}` contains NaN or infinite values.")
    scale = float(np.abs(np.diag(sigma)).max(initial=0.0))
    expected = f"`{name}` must be a symmetric positive semi-definite covariance matrix"
    if not np.allclose(sigma, sigma.T, rtol=1e-6, atol=1e-9 * scale):
        raise ValueError(f"{expected}; it is not symmetric.")
    # Cholesky of a slightly lifted matrix: succeeds for PSD ones with round-off-sized negative
    # eigenvalues, fails for a clearly negative eigenvalue; cheaper than an eigen-decomposition.
    lifted = sigma + (1e-6 * scale + 1e-300) * np.eye(len(sigma))
    try:
        np.linalg.cholesky(lifted)
    except np.linalg.LinAlgError:
        raise ValueError(f"{expected}; it has a negative eigenvalue.") from None


def _psd_sqrt(matrix):
    # Symmetric square root through the eigen-decomposition; round-off can leave tiny negative
    # eigenvalues on (near-)singular covariances, which are clipped to 0.
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def trace_sqrt_product(sigma_a, sigma_b):
    """`tr((S_a S_b)^(1/2))` for symmetric positive semi-definite `S_a`, `S_b`.

    `S_a S_b` is similar to the symmetric `M = S_a^(1/2) S_b S_a^(1/2)`, so the trace is the
    sum of the square roots of `M`'s (non-negative) eigenvalues: real arithmetic throughout,
    no complex parts to discard and no failure on singular covariances (fewer samples than
    dimensions), unlike a general matrix square root.
    """
    root_a = _psd_sqrt(sigma_a)
    middle = root_a @ sigma_b @ root_a
    values = np.linalg.eigvalsh((middle + middle.T) / 2.0)
    return float(np.sum(np.sqrt(np.clip(values, 0.0, None))))


def frechet_distance_from_statistics(mu_a, sigma_a, mu_b, sigma_b):
    """Fréchet distance between Gaussians `(mu_a, sigma_a)` and `(mu_b, sigma_b)` (float).

    Args:
        mu_a, mu_b: means, shape `(d,)`.
        sigma_a, sigma_b: covariances, shape `(d, d)`, symmetric positive semi-definite
            (a ValueError otherwise: the formula would give a meaningless number).

    Returns:
        The squared distance `|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))` as a Python
        float (clipped at 0 against round-off), computed in float64.
    """
    mu_a, mu_b = (np.asarray(m, "float64") for m in (mu_a, mu_b))
    sigma_a, sigma_b = (np.atleast_2d(np.asarray(s, "float64")) for s in (sigma_a, sigma_b))
    if mu_a.ndim != 1 or mu_a.shape != mu_b.shape:
        raise ValueError(
            f"`mu_a` and `mu_b` must be vectors of one length, got {mu_a.shape} and {mu_b.shape}."
        )
    d = mu_a.shape[0]
    for name, sigma in (("sigma_a", sigma_a), ("sigma_b", sigma_b)):
        if sigma.shape != (d, d):
            raise ValueError(f"`{name}` must have shape {(d, d)}, got {sigma.shape}.")
        _check_covariance(name, sigma)
    if not (np.all(np.isfinite(mu_a)) and np.all(np.isfinite(mu_b))):
        raise ValueError("`mu_a` and `mu_b` must be finite.")
    diff = mu_a - mu_b
    distance = (
        diff @ diff
        + np.trace(sigma_a)
        + np.trace(sigma_b)
        - 2.0 * trace_sqrt_product(sigma_a, sigma_b)
    )
    return max(float(distance), 0.0)


def frechet_distance(features_a, features_b):
    """Fréchet distance between two feature sets `(n_a, d)` and `(n_b, d)` (float).

    Each set is summarized by its mean and unbiased covariance (`feature_statistics`). When
    both sets have at most `d` samples the covariances are singular and large; the distance is
    then computed in sample space instead, exactly: with centred, scaled samples `A` (`S_a =
    A^T A`) and `B`, `tr((S_a S_b)^(1/2))` is the sum of the singular values of `A B^T`
    (an `n_a x n_b` matrix), which is also much faster than `d x d` decompositions.

    Example:

    >>> a = np.random.default_rng(0).normal(size=(500, 4))
    >>> round(keras_vim.metrics.frechet_distance(a, a), 6)
    0.0
    """
    features_a = _as_features(features_a, "features_a")
    features_b = _as_features(features_b, "features_b")
    dim = features_a.shape[1]
    if features_b.shape[1] != dim:
        raise ValueError(
            f"`features_a` and `features_b` must have the same dimension, got "
            f"{dim} and {features_b.shape[1]}."
        )
    if max(len(features_a), len(features_b)) > dim:
        return frechet_distance_from_statistics(
            *feature_statistics(features_a), *feature_statistics(features_b)
        )
    mu_a, mu_b = features_a.mean(axis=0), features_b.mean(axis=0)
    a = (features_a - mu_a) / np.sqrt(len(features_a) - 1)
    b = (features_b - mu_b) / np.sqrt(len(features_b) - 1)
    trace_sqrt = np.sum(np.linalg.svd(a @ b.T, compute_uv=False))
    diff = mu_a - mu_b
    distance = diff @ diff + np.sum(a * a) + np.sum(b * b) - 2.0 * trace_sqrt
    return max(float(distance), 0.0)
