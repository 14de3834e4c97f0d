import keras
import numpy as np
import pytest

from keras_vim.losses import (
    discriminator_adversarial_loss,
    discriminator_hinge_loss,
    generator_adversarial_loss,
    generator_hinge_loss,
    r1_penalty,
)

REAL = np.array([[2.0], [-1.0], [0.5], [30.0]], "float32")
FAKE = np.array([[-3.0], [0.0], [1.5], [-40.0]], "float32")


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _softplus(x):
    return np.logaddexp(0.0, x.astype("float64"))


def test_generator_non_saturating():
    loss = _np(generator_adversarial_loss(FAKE))
    assert loss.shape == () and loss.dtype == np.float32
    np.testing.assert_allclose(loss, np.mean(_softplus(-FAKE)), rtol=1e-6)
    # Hand values: softplus(3) = 3.04859, softplus(0) = log 2, softplus(-1.5) = 0.20141.
    np.testing.assert_allclose(loss, (3.048587 + 0.693147 + 0.201413 + 40.0) / 4, rtol=1e-5)


def test_discriminator_logistic():
    loss = _np(discriminator_adversarial_loss(REAL, FAKE))
    expected = np.mean(_softplus(-REAL)) + np.mean(_softplus(FAKE))
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    # A perfect discriminator has ~zero loss, a confused one 2 log 2.
    perfect = discriminator_adversarial_loss(REAL * 0 + 50, FAKE * 0 - 50)
    np.testing.assert_allclose(_np(perfect), 0, atol=1e-6)
    zeros = np.zeros((3, 1), "float32")
    np.testing.assert_allclose(
        _np(discriminator_adversarial_loss(zeros, zeros)), 2 * np.log(2), rtol=1e-6
    )


def test_accepts_bfloat16_and_flat_logits():
    logits = keras.ops.cast(FAKE[:, 0], "bfloat16")
    loss = generator_adversarial_loss(logits)
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    np.testing.assert_allclose(_np(loss), np.mean(_softplus(-FAKE)), rtol=1e-2)


def test_hinge():
    np.testing.assert_allclose(_np(generator_hinge_loss(FAKE)), -np.mean(FAKE), rtol=1e-6)
    expected = np.mean(np.maximum(1 - REAL, 0)) + np.mean(np.maximum(1 + FAKE, 0))
    # = (0 + 2 + 0.5 + 0) / 4 + (0 + 1 + 2.5 + 0) / 4
    np.testing.assert_allclose(expected, 1.5)
    np.testing.assert_allclose(_np(discriminator_hinge_loss(REAL, FAKE)), 1.5, rtol=1e-6)


@pytest.mark.parametrize("shape", [(2, 3), (2, 4, 4, 3)])
def test_r1_penalty_on_known_gradients(shape):
    grads = np.arange(np.prod(shape), dtype="float32").reshape(shape) / 10
    per_image = np.sum(grads.reshape(shape[0], -1) ** 2, axis=1)
    np.testing.assert_allclose(_np(r1_penalty(grads)), per_image.mean(), rtol=1e-6)


def test_r1_penalty_hand_value():
    grads = np.zeros((2, 2, 2, 1), "float32")
    grads[0, 0, 0, 0] = 3.0
    grads[0, 1, 1, 0] = 4.0  # image 0: 9 + 16 = 25
    grads[1, 0, 1, 0] = 1.0  # image 1: 1
    np.testing.assert_allclose(_np(r1_penalty(grads)), 13.0)
