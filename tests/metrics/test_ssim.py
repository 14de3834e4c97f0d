import keras
import numpy as np
import pytest

from keras_vim.metrics import ssim

C1, C2 = 0.01**2, 0.03**2


def _numpy_ssim(a, b):
    """SSIM by its definition, in float64: Gaussian-weighted statistics of every 11x11 window."""
    offsets = np.arange(11) - 5.0
    g = np.exp(-(offsets**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    scores = []
    for x, y in zip(a.astype("float64"), b.astype("float64")):
        per_channel = []
        for c in range(x.shape[-1]):
            xs = np.lib.stride_tricks.sliding_window_view(x[..., c], (11, 11))
            ys = np.lib.stride_tricks.sliding_window_view(y[..., c], (11, 11))
            mx, my = (xs * w).sum((-1, -2)), (ys * w).sum((-1, -2))
            vx = (w * (xs - mx[..., None, None]) ** 2).sum((-1, -2))
            vy = (w * (ys - my[..., None, None]) ** 2).sum((-1, -2))
            cxy = (w * (xs - mx[..., None, None]) * (ys - my[..., None, None])).sum((-1, -2))
            s = (2 * mx * my + C1) * (2 * cxy + C2) / ((mx**2 + my**2 + C1) * (vx + vy + C2))
            per_channel.append(s.mean())
        scores.append(np.mean(per_channel))
    return np.array(scores)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_identical_images_score_one(rng):
    images = rng.uniform(size=(2, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(_np(ssim(images, images)), 1.0, atol=1e-6)


def test_constant_offset_closed_form():
    # Constant images a and a + c: no variance, so SSIM is the luminance term alone,
    # (2 a (a + c) + C1) / (a^2 + (a + c)^2 + C1).
    a, c = 0.25, 0.5  # exact in float32
    x = np.full((1, 12, 14, 1), a, "float32")
    expected = (2 * a * (a + c) + C1) / (a**2 + (a + c) ** 2 + C1)
    # float32 statistics: ~3e-5 on PyTorch's CPU convolution, ~1e-6 elsewhere.
    np.testing.assert_allclose(_np(ssim(x, x + c)), [expected], rtol=1e-4)
    assert expected < 0.61


def test_matches_the_definition_and_tensorflow(rng):
    a = rng.uniform(size=(3, 16, 20, 2)).astype("float32")
    b = np.clip(a + rng.normal(scale=0.2, size=a.shape), 0, 1).astype("float32")
    b[2] = rng.uniform(size=b[2].shape)  # an unrelated image
    ours = _np(ssim(a, b))
    expected = _numpy_ssim(a, b)
    assert expected[0] < 0.9 and abs(expected[2]) < 0.2
    np.testing.assert_allclose(ours, expected, atol=2e-5)
    import tensorflow as tf

    np.testing.assert_allclose(ours, tf.image.ssim(a, b, max_val=1.0).numpy(), atol=2e-5)


def test_bad_inputs():
    with pytest.raises(ValueError, match="one shape"):
        ssim(np.zeros((1, 16, 16, 1)), np.zeros((1, 16, 16, 3)))
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(np.zeros((1, 8, 16, 1)), np.zeros((1, 8, 16, 1)))
