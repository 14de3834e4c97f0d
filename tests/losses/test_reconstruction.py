import keras
import numpy as np
import pytest

from keras_vim.losses import l1_loss, l2_loss, logit_laplace_loss, logit_laplace_mean

EPS = 0.1


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _squeeze(x, eps=EPS):
    return (1 - 2 * eps) * x.astype("float64") + eps


def _logit(p):
    return np.log(p) - np.log1p(-p)


def _numpy_nll(x, mu, log_b, eps=EPS):
    xs = _squeeze(x, eps)
    log_b = np.clip(log_b.astype("float64"), -5.0, 5.0)
    b = np.exp(log_b)
    return np.mean(np.log(2 * b) + np.log(xs * (1 - xs)) + np.abs(_logit(xs) - mu) / b)


def test_l2_l1(rng):
    x = rng.uniform(size=(2, 4, 4, 3)).astype("float32")
    y = rng.uniform(size=(2, 4, 4, 3)).astype("float32")
    np.testing.assert_allclose(_np(l2_loss(x, y)), np.mean((x - y) ** 2), rtol=1e-6)
    np.testing.assert_allclose(_np(l1_loss(x, y)), np.mean(np.abs(x - y)), rtol=1e-6)
    np.testing.assert_allclose(_np(l2_loss(x, x)), 0.0)
    np.testing.assert_allclose(_np(l2_loss([[0.0, 1.0]], [[1.0, 3.0]])), 2.5)
    np.testing.assert_allclose(_np(l1_loss([[0.0, 1.0]], [[1.0, 3.0]])), 1.5)


def test_logit_laplace_matches_numpy(rng):
    x = rng.uniform(size=(2, 4, 4, 3)).astype("float32")
    mu = rng.normal(size=x.shape).astype("float32")
    log_b = rng.uniform(-2, 1, size=x.shape).astype("float32")
    loss = logit_laplace_loss(x, mu, log_b)
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    np.testing.assert_allclose(_np(loss), _numpy_nll(x, mu, log_b), rtol=1e-5)
    # eps is honoured.
    np.testing.assert_allclose(
        _np(logit_laplace_loss(x, mu, log_b, eps=0.05)), _numpy_nll(x, mu, log_b, 0.05), rtol=1e-5
    )


def test_logit_laplace_hand_value():
    # x = 0.5 -> x' = 0.5, logit(x') = 0; mu = 1, b = 1: log 2 + log 0.25 + 1.
    loss = logit_laplace_loss([[0.5]], [[1.0]], [[0.0]])
    np.testing.assert_allclose(_np(loss), np.log(2) + np.log(0.25) + 1.0, rtol=1e-6)


def test_logit_laplace_minimised_at_logit_of_squeezed_pixel(rng):
    x = rng.uniform(size=(1, 4, 4, 3)).astype("float32")
    best_mu = _logit(_squeeze(x)).astype("float32")
    log_b = np.full(x.shape, -1.0, "float32")
    losses = {
        delta: float(_np(logit_laplace_loss(x, best_mu + delta, log_b)))
        for delta in (-0.5, -0.1, -0.01, 0.0, 0.01, 0.1, 0.5)
    }
    assert min(losses, key=losses.get) == 0.0
    # Unbiased optimum on raw pixels would be logit(x), which is worse.
    raw_logit = _logit(np.clip(x, 1e-3, 1 - 1e-3)).astype("float32")
    assert losses[0.0] < float(_np(logit_laplace_loss(x, raw_logit, log_b)))
    # For a fixed error |e|, the best scale is b = |e|.
    errors = np.full(x.shape, 0.3, "float32")
    by_scale = [
        float(_np(logit_laplace_loss(x, best_mu + errors, np.full(x.shape, np.log(b), "float32"))))
        for b in (0.1, 0.3, 0.9)
    ]
    assert by_scale[1] < by_scale[0] and by_scale[1] < by_scale[2]


def test_logit_laplace_clamps_log_scale(rng):
    x = rng.uniform(size=(1, 2, 2, 1)).astype("float32")
    mu = _logit(_squeeze(x)).astype("float32")
    tiny = _np(logit_laplace_loss(x, mu, np.full(x.shape, -100.0, "float32")))
    floor = _np(logit_laplace_loss(x, mu, np.full(x.shape, -5.0, "float32")))
    assert np.isfinite(tiny)
    np.testing.assert_allclose(tiny, floor, rtol=1e-6)
    huge = _np(logit_laplace_loss(x, mu + 1, np.full(x.shape, 100.0, "float32")))
    np.testing.assert_allclose(huge, _numpy_nll(x, mu + 1, np.full(x.shape, 5.0)), rtol=1e-5)


def test_logit_laplace_bfloat16_inputs(rng):
    x = rng.uniform(size=(2, 4, 4, 3)).astype("float32")
    mu = rng.normal(size=x.shape).astype("float32")
    log_b = rng.uniform(-2, 1, size=x.shape).astype("float32")
    cast = [keras.ops.cast(v, "bfloat16") for v in (x, mu, log_b)]
    loss = logit_laplace_loss(*cast)
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    rounded = [_np(keras.ops.cast(v, "float32")) for v in cast]
    np.testing.assert_allclose(_np(loss), _numpy_nll(*rounded), rtol=1e-5)


def test_logit_laplace_mean_recovers_pixels(rng):
    x = rng.uniform(size=(2, 4, 4, 3)).astype("float32")
    recon = logit_laplace_mean(_logit(_squeeze(x)).astype("float32"))
    assert keras.backend.standardize_dtype(recon.dtype) == "float32"
    np.testing.assert_allclose(_np(recon), x, atol=1e-5)


@pytest.mark.parametrize("mu, expected", [(-20.0, 0.0), (20.0, 1.0), (0.0, 0.5)])
def test_logit_laplace_mean_clips(mu, expected):
    np.testing.assert_allclose(_np(logit_laplace_mean([mu])), [expected], atol=1e-6)


@pytest.mark.parametrize("mu, expected", [(-20.0, -0.125), (20.0, 1.125), (0.0, 0.5)])
def test_logit_laplace_mean_unclipped(mu, expected):
    # (sigmoid(mu) - 0.1) / 0.8: the losses see a location pushed past black or white.
    np.testing.assert_allclose(_np(logit_laplace_mean([mu], clip=False)), [expected], atol=1e-6)
