import numpy as np
import pytest
from keras import ops

from keras_vim.metrics import fit_linear_probe, probe_features
from keras_vim.models import VIM


def separable_set(rng, n):
    """Three classes, each in a unit box around 4 * e_k in 3-D: linearly separable."""
    labels = rng.integers(0, 3, n)
    features = rng.uniform(-1, 1, (n, 3)) + 4.0 * np.eye(3)[labels]
    return features.astype("float32"), labels


def test_probe_learns_a_linearly_separable_set(rng):
    train, train_labels = separable_set(rng, 300)
    test, test_labels = separable_set(rng, 150)
    report, model = fit_linear_probe(
        train, train_labels, test, test_labels, epochs=40, batch_size=32, learning_rate=1e-2
    )
    assert report["train_accuracy"] == 1.0 and report["test_accuracy"] == 1.0
    assert report["feature_dim"] == 3 and report["test_examples"] == 150
    assert ops.convert_to_numpy(model(test[:2])).shape == (2, 3)


def test_bad_probe_inputs(rng):
    features, labels = separable_set(rng, 20)
    with pytest.raises(ValueError, match="train_labels"):
        fit_linear_probe(features, labels[:10], features, labels)
    with pytest.raises(ValueError, match="dimensions"):
        fit_linear_probe(features, labels, features[:, :2], labels)
    with pytest.raises(ValueError, match="epochs"):
        fit_linear_probe(features, labels, features, labels, epochs=0)
    with pytest.raises(ValueError, match="Labels"):
        fit_linear_probe(features, labels, features, labels, num_classes=2)


def test_probe_features_match_vim_features(rng):
    prior = VIM(
        vocabulary_size=16,
        grid_size=(2, 3),
        num_layers=2,
        num_heads=2,
        hidden_dim=8,
        mlp_dim=16,
        num_classes=3,
        dropout=0.0,
    )
    tokens = rng.integers(0, 16, (5, 2, 3)).astype("int32")
    classes = np.array([0, 1, 2, 0, 1], "int32")
    # Batches of 4: the second batch is padded, then cut.
    features = probe_features(prior, tokens, block=1, batch_size=4)
    assert features.shape == (5, 8) and features.dtype == np.float32
    expected = ops.convert_to_numpy(prior.features(tokens, block=1))
    np.testing.assert_allclose(features, expected, atol=1e-5)
    with_classes = probe_features(prior, tokens, block=1, class_ids=classes, batch_size=4)
    expected_with_classes = ops.convert_to_numpy(prior.features(tokens, classes, block=1))
    np.testing.assert_allclose(with_classes, expected_with_classes, atol=1e-5)
    assert np.abs(with_classes - features).max() > 1e-6  # the class token changes them
    with pytest.raises(ValueError, match="block"):
        probe_features(prior, tokens, block=3)
    with pytest.raises(TypeError, match="integer"):
        probe_features(prior, tokens.astype("float32"))
    with pytest.raises(ValueError, match="class_ids"):
        probe_features(prior, tokens, class_ids=classes[:2])
