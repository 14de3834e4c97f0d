import keras
import numpy as np
import pytest

from keras_vim.losses import logit_laplace_loss
from keras_vim.metrics import per_image_l1, per_image_l2, per_image_logit_laplace_nll, psnr


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_hand_computed_errors_and_psnr():
    images = np.zeros((3, 4, 4, 1), "float32")
    reconstructions = images.copy()
    reconstructions[0] += 0.1  # MSE 0.01 -> 20 dB
    reconstructions[1, :2] = 0.5  # half the pixels off by 0.5: MSE 0.125, L1 0.25
    # float32: a few ulps of rounding depending on how the backend compiles the sum.
    l2, l1 = _np(per_image_l2(images, reconstructions)), _np(per_image_l1(images, reconstructions))
    np.testing.assert_allclose(l2, [0.01, 0.125, 0.0], rtol=1e-6)
    np.testing.assert_allclose(l1, [0.1, 0.25, 0.0], rtol=1e-6)
    expected_psnr = [20.0, 10 * np.log10(8.0), 120.0]  # identical images: floored MSE 1e-12
    np.testing.assert_allclose(_np(psnr(images, reconstructions)), expected_psnr, rtol=1e-5)
    # max_value scales the peak: 8-bit images off by 25.5 levels are also at 20 dB.
    np.testing.assert_allclose(
        _np(psnr(images[:1] * 255, reconstructions[:1] * 255, max_value=255.0)), [20.0], rtol=1e-5
    )


def test_logit_laplace_nll_per_image_averages_to_the_loss(rng):
    images = rng.uniform(size=(3, 4, 4, 2)).astype("float32")
    location = rng.normal(size=images.shape).astype("float32")
    log_scale = rng.normal(size=images.shape).astype("float32")
    per_image = _np(per_image_logit_laplace_nll(images, location, log_scale))
    assert per_image.shape == (3,)
    loss = float(_np(logit_laplace_loss(images, location, log_scale)))
    assert np.mean(per_image) == pytest.approx(loss, rel=1e-5)
    single = float(_np(logit_laplace_loss(images[1:2], location[1:2], log_scale[1:2])))
    assert per_image[1] == pytest.approx(single, rel=1e-5)


def test_shape_mismatch():
    with pytest.raises(ValueError, match="reconstructions"):
        psnr(np.zeros((2, 4, 4, 1)), np.zeros((2, 4, 4, 3)))
