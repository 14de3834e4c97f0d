"""keras_vim.metrics.sample_evaluation: sample scores, the real-data reference and the
reconstruction scores, on sets whose values are known."""

import numpy as np
import pytest

from keras_vim.data import load_fashion_mnist
from keras_vim.metrics import (
    domain_frechet_distance,
    domain_inception_score,
    load_domain_classifier,
    real_data_reference,
    reconstruction_metrics,
    sample_metrics,
)


@pytest.fixture(scope="module")
def data():
    """300 test and 300 training images of the shipped subset (floats in [0, 1])."""
    test_images, test_labels = load_fashion_mnist("test", source="subset")
    train_images, _ = load_fashion_mnist("train", source="subset")
    return (
        test_images[:300].astype("float32") / 255.0,
        test_labels[:300],
        train_images[:300].astype("float32") / 255.0,
    )


@pytest.fixture(scope="module")
def classifier():
    return load_domain_classifier()


def test_identical_sets_give_zero_distance_and_true_labels_the_classifier_accuracy(
    data, classifier
):
    images, labels, _ = data
    metrics = sample_metrics(images, images, class_ids=labels, classifier=classifier)
    assert set(metrics) == {
        "domain_frechet_distance",
        "domain_inception_score",
        "domain_inception_score_std",
        "class_accuracy",
    }
    assert abs(metrics["domain_frechet_distance"]) < 1e-3
    # The images given their true labels: the classifier's own accuracy on them.
    predicted = np.argmax(classifier.predict_proba(images), axis=1)
    own_accuracy = float(np.mean(predicted == labels))
    assert metrics["class_accuracy"] == own_accuracy
    assert own_accuracy > 0.8  # the shipped classifier: ~92% on Fashion-MNIST's test split
    # Asked for the wrong classes (each label shifted by one): hardly ever right.
    wrong = sample_metrics(images, images, (labels + 1) % 10, classifier)["class_accuracy"]
    assert wrong < 0.1
    # The IS is the domain function's (the same fixed shuffle), between 1 and 10 classes.
    mean, std = domain_inception_score(images, classifier)
    assert (metrics["domain_inception_score"], metrics["domain_inception_score_std"]) == (
        mean,
        std,
    )
    assert 5 < mean <= 10 and std >= 0  # 300 real images of 10 even-ish classes


def test_one_class_scores_like_a_collapsed_generator(data, classifier):
    images, labels, _ = data
    trousers = images[labels == 1]  # class 1, which the classifier gets nearly always right
    metrics = sample_metrics(trousers, images, np.ones(len(trousers), "int32"), classifier)
    # One confidently classified class: an Inception Score near its floor of 1, a distance to
    # the test images far above that of real images of every class, perfect class accuracy.
    assert 1 <= metrics["domain_inception_score"] < 1.5
    assert metrics["domain_frechet_distance"] > 10 * domain_frechet_distance(
        images[::2], images[1::2], classifier
    )
    assert metrics["class_accuracy"] > 0.95


def test_real_data_reference(data, classifier):
    test_images, test_labels, train_images = data
    reference = real_data_reference(train_images, test_images, test_labels, classifier)
    assert reference["what"] == "300 training images against the test images"
    assert reference["domain_frechet_distance"] == domain_frechet_distance(
        train_images, test_images, classifier
    )
    mean_score, _ = domain_inception_score(train_images, classifier)
    assert reference["domain_inception_score"] == mean_score
    # The classifier's accuracy on the test images, as sample_metrics measures class accuracy.
    accuracy = sample_metrics(test_images, test_images, test_labels, classifier)["class_accuracy"]
    assert reference["test_class_accuracy"] == accuracy
    # Training images are real data too: far closer to the test images than one class is.
    assert (
        0
        < reference["domain_frechet_distance"]
        < 0.2 * (domain_frechet_distance(test_images[test_labels == 1], test_images, classifier))
    )
    # A set scored against itself: distance 0.
    itself = real_data_reference(test_images, test_images, None, classifier)
    assert abs(itself["domain_frechet_distance"]) < 1e-3 and "test_class_accuracy" not in itself


def test_what_is_computed_follows_the_networks(data, classifier):
    images, labels, _ = data
    assert sample_metrics(images, images, labels) == {}  # no network: nothing to score
    no_classes = sample_metrics(images[:50], images, classifier=classifier)
    assert "class_accuracy" not in no_classes and "domain_frechet_distance" in no_classes
    with pytest.raises(ValueError, match="needs `inception`"):
        sample_metrics(images, images, reference_pool=np.zeros((300, 2048)))
    with pytest.raises(ValueError, match="`class_ids` has 3 entries but there are 300 images"):
        sample_metrics(images, images, labels[:3], classifier)
    with pytest.raises(TypeError, match="FashionMNISTClassifier"):
        sample_metrics(images, images, classifier="shipped")


class _LosslessTokenizer:
    """Encodes each pixel of a uint8-valued image as its own code (256 codes): the round trip
    gives the images back exactly."""

    num_codes = 256

    def encode(self, images):
        return np.rint(np.asarray(images)[..., 0] * 255).astype("int32")

    def decode(self, ids):
        return (np.asarray(ids, "float32") / 255.0)[..., None]


class _BlankTokenizer(_LosslessTokenizer):
    """Every image becomes black."""

    def decode(self, ids):
        return np.zeros((*np.shape(ids), 1), "float32")


def test_reconstruction_metrics_of_a_perfect_and_a_blank_round_trip(data, classifier):
    images = data[0][:100]
    perfect = reconstruction_metrics(_LosslessTokenizer(), images, classifier)
    assert perfect["images"] == 100 and perfect["num_codes"] == 256
    assert perfect["l2"] == 0 and perfect["psnr"] == pytest.approx(120.0)
    assert abs(perfect["domain_frechet_distance"]) < 1e-3 and "frechet_distance" not in perfect
    blank = reconstruction_metrics(_BlankTokenizer(), images, classifier)
    np.testing.assert_allclose(blank["l2"], np.mean(images**2), rtol=1e-5)
    assert blank["domain_frechet_distance"] > 10
    # Without a classifier: no domain FD (data other than Fashion-MNIST).
    plain = reconstruction_metrics(_LosslessTokenizer(), images)
    assert "domain_frechet_distance" not in plain and plain["l2"] == 0
