import numpy as np
import pytest

from keras_vim.metrics import inception_score


def test_uniform_predictions_score_one():
    mean, std = inception_score(np.full((50, 1008), 1.0 / 1008), splits=5)
    assert mean == pytest.approx(1.0, abs=1e-9) and std == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("classes", [3, 10])
def test_confident_even_predictions_score_the_class_count(classes):
    one_hot = np.eye(classes)[np.arange(20 * classes) % classes]
    mean, std = inception_score(one_hot, splits=4)
    assert mean == pytest.approx(classes, rel=1e-9) and std == pytest.approx(0.0, abs=1e-9)
    # The same from logits, confident enough to be one-hot in float64.
    assert inception_score(100.0 * one_hot, splits=4, from_logits=True)[0] == pytest.approx(
        classes, rel=1e-9
    )


def test_hand_computed_two_splits():
    # Split 1: two confident, different predictions -> 2. Split 2: both predict class 0 -> 1.
    p = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    mean, std = inception_score(p, splits=2)
    assert mean == pytest.approx(1.5) and std == pytest.approx(0.5)
    # A mixed prediction: KL(p || marginal) by hand.
    p = np.array([[0.9, 0.1], [0.3, 0.7]])
    marginal = p.mean(0)
    expected = np.exp(np.mean(np.sum(p * np.log(p / marginal), axis=1)))
    assert inception_score(p, splits=1)[0] == pytest.approx(expected, rel=1e-12)


def test_bad_inputs():
    with pytest.raises(ValueError, match="splits"):
        inception_score(np.eye(3), splits=4)
    with pytest.raises(ValueError, match="from_logits"):
        inception_score(np.ones((4, 3)), splits=1)
    with pytest.raises(ValueError, match="probabilities"):
        inception_score(np.ones(4), splits=1)
