import os

import keras
import numpy as np
import pytest

from keras_vim.data import load_fashion_mnist
from keras_vim.metrics import (
    FashionMNISTClassifier,
    class_accuracy,
    domain_frechet_distance,
    domain_inception_score,
    load_domain_classifier,
    read_classifier_record,
)
from keras_vim.metrics.domain_classifier import CLASSIFIER_WEIGHTS


@pytest.fixture(scope="module")
def subset():
    images, labels = load_fashion_mnist("test", source="subset")
    return images, labels


def test_shipped_classifier_reproduces_its_recorded_accuracy(subset):
    images, labels = subset
    record = read_classifier_record()
    assert record["subset_test_images"] == len(images) == 1000
    accuracy = class_accuracy(images, labels)
    # The same images and weights: equal up to a flip or two of borderline images between
    # backends.
    assert abs(accuracy - record["subset_test_accuracy"]) <= 2 / len(images)
    assert os.path.getsize(CLASSIFIER_WEIGHTS) < 1024 * 1024
    classifier = load_domain_classifier()
    assert load_domain_classifier() is classifier  # loaded once
    assert classifier.count_params() == record["parameters"]


def test_outputs(subset):
    images, _ = subset
    classifier = load_domain_classifier()
    outputs = classifier.outputs(images[:300], batch_size=128)  # batches 128, 128, 44 (padded)
    probabilities, features = outputs["probabilities"], outputs["features"]
    assert probabilities.shape == (300, 10) and features.shape == (300, classifier.feature_dim)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert features.min() >= 0  # ReLU features
    # uint8 and float images in [0, 1] agree; so do the batched and the one-shot paths.
    floats = images[:300].astype("float32") / 255.0
    np.testing.assert_allclose(classifier.predict_proba(floats), probabilities, atol=1e-5)
    logits = keras.ops.convert_to_numpy(classifier(floats[:8]))
    np.testing.assert_allclose(
        probabilities[:8], keras.ops.convert_to_numpy(keras.ops.softmax(logits)), atol=1e-5
    )


def test_domain_metrics_on_known_sets(subset):
    images, labels = subset
    assert abs(domain_frechet_distance(images, images)) < 1e-6
    real = domain_frechet_distance(images[::2], images[1::2])
    noise = np.random.default_rng(0).uniform(size=(500, 32, 32, 1)).astype("float32")
    assert 0 < real < domain_frechet_distance(images[:500], noise)
    # One image repeated: every prediction is the same, the score is its minimum, 1.
    constant = np.repeat(images[:1], 100, axis=0)
    assert domain_inception_score(constant)[0] == pytest.approx(1.0, abs=1e-6)
    score, _ = domain_inception_score(images)
    assert 1.0 < score <= 10.0
    # Ordered by class, the set scores the same: the parts are drawn at random.
    ordered = images[np.argsort(labels, kind="stable")]
    assert domain_inception_score(ordered)[0] == pytest.approx(score, rel=0.05)
    # Labels shifted by one class: (almost) never right.
    assert class_accuracy(images, (labels + 1) % 10) < class_accuracy(images, labels)


def test_bad_inputs(subset):
    images, labels = subset
    with pytest.raises(ValueError, match="class_ids"):
        class_accuracy(images[:10], labels[:5])
    with pytest.raises(ValueError, match="class_ids"):
        class_accuracy(images[:2], np.array([0, 10]))
    with pytest.raises(ValueError, match="32x32"):
        class_accuracy(np.zeros((2, 16, 16, 1), "float32"), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        domain_inception_score(np.full((2, 32, 32, 1), 3.0, "float32"))
    with pytest.raises(TypeError, match="classifier"):
        domain_frechet_distance(images, images, classifier=object())
    with pytest.raises(ValueError, match="filters"):
        FashionMNISTClassifier(filters=(8, 8))
    with pytest.raises(FileNotFoundError, match="missing"):
        load_domain_classifier("missing.weights.h5")


def test_config_and_saving_round_trip(subset, tmp_path):
    images, _ = subset
    classifier = load_domain_classifier()
    clone = FashionMNISTClassifier.from_config(classifier.get_config())
    clone.build()
    clone.set_weights(classifier.get_weights())
    expected = classifier.predict_proba(images[:16])
    np.testing.assert_allclose(clone.predict_proba(images[:16]), expected, atol=1e-6)
    path = str(tmp_path / "classifier.keras")
    classifier.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, FashionMNISTClassifier)
    np.testing.assert_allclose(loaded.predict_proba(images[:16]), expected, atol=1e-6)
