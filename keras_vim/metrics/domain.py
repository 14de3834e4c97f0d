"""Sample metrics with the shipped Fashion-MNIST classifier: domain Fréchet distance, domain
Inception Score and class accuracy. They need no download (see `domain_classifier.py`)."""

import numpy as np

from keras_vim.metrics.domain_classifier import FashionMNISTClassifier, load_domain_classifier
from keras_vim.metrics.frechet import frechet_distance
from keras_vim.metrics.inception_score import inception_score


def _classifier(classifier):
    if classifier is None:
        return load_domain_classifier()
    if not isinstance(classifier, FashionMNISTClassifier):
        raise TypeError(
            "`classifier` must be a FashionMNISTClassifier (see load_domain_classifier) or "
            f"None for the shipped one, got {type(classifier).__name__}."
        )
    return classifier


def domain_frechet_distance(images_a, images_b, classifier=None, batch_size=500, max_images=None):
    """Fréchet distance between two image sets in the classifier's penultimate features.

    The domain analogue of FID: 0 for identical feature statistics, larger as the sets
    differ. Only comparable between runs that use the same classifier weights.

    Args:
        images_a, images_b: `(N, 32, 32, 1)` images in [0, 1] (or uint8), or batched datasets
            of them (see `keras_vim.metrics.image_batches`).
        classifier: a `FashionMNISTClassifier`; default the shipped one.
        batch_size: images per classifier call.
        max_images: use the first `max_images` of each set.
    """
    classifier = _classifier(classifier)
    features_a = classifier.outputs(images_a, batch_size, max_images)["features"]
    features_b = classifier.outputs(images_b, batch_size, max_images)["features"]
    return frechet_distance(features_a, features_b)


def domain_inception_score(images, classifier=None, splits=10, batch_size=500, max_images=None):
    """Inception Score `(mean, std)` with the classifier's class probabilities (1 to 10).

    High when each image is classified confidently and the classes are evenly covered. The
    images are shuffled (with a fixed seed) before being cut into `splits` parts, so that a
    set ordered by class (e.g. 50 samples of each class in turn) is scored like a random one:
    the parts of the original IS code are consecutive.
    """
    classifier = _classifier(classifier)
    probabilities = classifier.outputs(images, batch_size, max_images)["probabilities"]
    probabilities = probabilities[np.random.default_rng(0).permutation(len(probabilities))]
    return inception_score(probabilities, splits=min(splits, len(probabilities)))


def class_accuracy(images, class_ids, classifier=None, batch_size=500):
    """Share of images the classifier assigns to their class (e.g. the class a
    class-conditional prior was asked for).

    Args:
        images: `(N, 32, 32, 1)` images in [0, 1] (or uint8), or a batched dataset of them.
        class_ids: `(N,)` int class ids.
        classifier: a `FashionMNISTClassifier`; default the shipped one.
    """
    class_ids = np.asarray(class_ids)
    if class_ids.ndim != 1 or not np.issubdtype(class_ids.dtype, np.integer):
        raise ValueError(
            f"`class_ids` must be a 1-D int array, got shape {class_ids.shape} and dtype "
            f"{class_ids.dtype}."
        )
    classifier = _classifier(classifier)
    probabilities = classifier.outputs(images, batch_size)["probabilities"]
    if len(probabilities) != len(class_ids):
        raise ValueError(
            f"`class_ids` has {len(class_ids)} entries but there are {len(probabilities)} images."
        )
    if class_ids.size and (class_ids.min() < 0 or class_ids.max() >= classifier.num_classes):
        raise ValueError(
            f"`class_ids` must be in [0, {classifier.num_classes - 1}], got "
            f"[{class_ids.min()}, {class_ids.max()}]."
        )
    return float(np.mean(np.argmax(probabilities, axis=1) == class_ids))
