import numpy as np
import pytest
import scipy.linalg

from keras_vim.metrics import (
    feature_statistics,
    fid_from_features,
    frechet_distance,
    frechet_distance_from_statistics,
)


def _standard_formula(a, b):
    """The textbook computation (as in TTUR / pytorch-fid): scipy's general sqrtm."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    sigma_a, sigma_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(sigma_a @ sigma_b).real
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(sigma_a + sigma_b - 2.0 * root))


def _gaussians(rng, n_a, n_b, dim):
    mixing_a = rng.normal(size=(dim, dim)) / np.sqrt(dim)
    mixing_b = rng.normal(size=(dim, dim)) / np.sqrt(dim)
    a = rng.normal(size=(n_a, dim)) @ mixing_a + 0.3
    b = rng.normal(size=(n_b, dim)) @ mixing_b * 1.5 - 0.2
    return a, b


@pytest.mark.parametrize("n_a, n_b, dim", [(400, 300, 16), (30, 20, 40)])
def test_matches_the_standard_formula(rng, n_a, n_b, dim):
    # More samples than dimensions (covariance route) and fewer (sample-space route).
    a, b = _gaussians(rng, n_a, n_b, dim)
    expected = _standard_formula(a, b)
    assert expected > 1.0
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-7)
    from_statistics = frechet_distance_from_statistics(
        *feature_statistics(a), *feature_statistics(b)
    )
    assert from_statistics == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(b, a) == pytest.approx(frechet_distance(a, b), rel=1e-10)
    assert fid_from_features(a, b) == frechet_distance(a, b)


@pytest.mark.parametrize("n", [500, 20])
def test_a_set_with_itself_is_zero(rng, n):
    a, _ = _gaussians(rng, n, 2, 32)
    scale = np.trace(np.cov(a, rowvar=False))
    assert frechet_distance(a, a) < 1e-9 * scale
    assert frechet_distance(a, a + 0.5) == pytest.approx(32 * 0.25, rel=1e-9)  # shift only


def test_diagonal_gaussians_closed_form(rng):
    # For diagonal covariances: |mu_a - mu_b|^2 + sum_i (sqrt(s_a,i) - sqrt(s_b,i))^2.
    mu_a, mu_b = rng.normal(size=6), rng.normal(size=6)
    var_a, var_b = rng.uniform(0.1, 3.0, size=6), rng.uniform(0.1, 3.0, size=6)
    expected = np.sum((mu_a - mu_b) ** 2) + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2)
    distance = frechet_distance_from_statistics(mu_a, np.diag(var_a), mu_b, np.diag(var_b))
    assert distance == pytest.approx(expected, rel=1e-12)


def test_singular_covariances(rng):
    # Rank-2 covariances in 5 dimensions: no NaN, no complex parts, equal to the sample route.
    a = rng.normal(size=(3, 5))
    b = rng.normal(size=(3, 5)) + 1.0
    distance = frechet_distance_from_statistics(*feature_statistics(a), *feature_statistics(b))
    assert np.isfinite(distance)
    assert distance == pytest.approx(frechet_distance(a, b), rel=1e-6)


def test_bad_inputs():
    with pytest.raises(ValueError, match="features_a"):
        frechet_distance(np.zeros(5), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="same dimension"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.full((4, 3), np.nan), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="sigma_b"):
        frechet_distance_from_statistics(np.zeros(3), np.eye(3), np.zeros(3), np.eye(2))


@pytest.mark.parametrize(
    "sigma, match",
    [
        (
            -np.eye(3),
            r"`sigma_b` must be a symmetric positive semi-definite .* negative eigenvalue",
        ),
        (np.diag([1.0, 1.0, -0.5]), r"`sigma_b` .* negative eigenvalue"),
        (np.array([[1.0, 2.0, 0], [0, 1.0, 0], [0, 0, 1.0]]), r"`sigma_b` .* not symmetric"),
        (np.full((3, 3), np.nan), r"`sigma_b` contains NaN"),
    ],
)
def test_a_covariance_that_is_not_psd_is_refused(sigma, match):
    """A negative-definite covariance returned 0.0 (the distance was clipped)."""
    with pytest.raises(ValueError, match=match):
        frechet_distance_from_statistics(np.zeros(3), np.eye(3), np.zeros(3), sigma)


def test_round_off_negative_eigenvalues_are_accepted(rng):
    # Fewer samples than dimensions: np.cov is singular; round-off can push its zero
    # eigenvalues a little below 0, as the shift does here.
    a, b = rng.normal(size=(4, 30)), rng.normal(size=(5, 30))
    sigma_a = np.cov(a, rowvar=False)
    sigma_a -= 1e-12 * np.trace(sigma_a) * np.eye(30)
    assert np.linalg.eigvalsh(sigma_a).min() < 0
    distance = frechet_distance_from_statistics(a.mean(0), sigma_a, *feature_statistics(b))
    assert distance == pytest.approx(frechet_distance(a, b), rel=1e-6)
    with pytest.raises(ValueError, match="mu_a"):
        frechet_distance_from_statistics(np.full(30, np.inf), sigma_a, *feature_statistics(b))
