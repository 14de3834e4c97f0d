"""A small Fashion-MNIST classifier shipped with the package, for offline sample metrics.

FID needs the Inception network's weights, which users download themselves; on the default data
this classifier (trained by `recipes/train_classifier.py`, weights in
`keras_vim/metrics/assets/`) gives a *domain* Fréchet distance (on its penultimate features), a
domain Inception Score and the class accuracy of class-conditional samples without any
download. Numbers from it compare models on Fashion-MNIST; they are not FID / IS values.
"""

import json
import os

import keras
import numpy as np
from keras import ops

from keras_vim.distribution.setup import no_distribution
from keras_vim.metrics.batches import image_batches
from keras_vim.utils.batches import call_padded
from keras_vim.utils.checks import check_integer, check_real
from keras_vim.utils.compiled import compiled_function

ASSETS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")
CLASSIFIER_WEIGHTS = os.path.join(ASSETS_DIR, "fashion_mnist_classifier.weights.h5")
# Written by recipes/train_classifier.py beside the weights: the configuration, the training
# settings and the accuracies it measured (the tests compare against these).
CLASSIFIER_RECORD = os.path.join(ASSETS_DIR, "fashion_mnist_classifier.json")

IMAGE_SHAPE = (32, 32, 1)


@keras.saving.register_keras_serializable(package="keras_vim")
class FashionMNISTClassifier(keras.Model):
    """A small CNN classifying 32x32x1 Fashion-MNIST images (in [0, 1]) into 10 classes.

    Three blocks of a 3x3 ReLU convolution and 2x2 max pooling, then a ReLU dense layer of
    `feature_dim` units (the penultimate features, used for the domain Fréchet distance) and
    the class logits. `call` returns logits, so it trains with `compile` + `fit`;
    `features(images)` and `predict_proba(images)` run a compiled function over any number of
    images in fixed-size batches and return numpy arrays.

    `keras_vim.metrics.load_domain_classifier()` returns it with the shipped weights.

    Args:
        num_classes: number of classes.
        filters: filters of the three convolution blocks.
        feature_dim: width of the penultimate (feature) layer.
        dropout: dropout on the features during training.

    Example:
    >>> classifier = keras_vim.metrics.load_domain_classifier()
    >>> images, labels = keras_vim.data.load_fashion_mnist("test", source="subset")
    >>> classifier.predict_proba(images[:4]).shape, classifier.features(images[:4]).shape
    ((4, 10), (4, 64))
    """

    def __init__(self, num_classes=10, filters=(16, 32, 64), feature_dim=64, dropout=0.3, **kwargs):
        super().__init__(**kwargs)
        filters = tuple(filters)
        if len(filters) != 3:
            raise ValueError(f"`filters` must be three positive ints, got {filters!r}.")
        filters = tuple(check_integer("filters", f, minimum=1) for f in filters)
        num_classes = check_integer("num_classes", num_classes, minimum=1)
        feature_dim = check_integer("feature_dim", feature_dim, minimum=1)
        dropout = check_real("dropout", dropout, 0, 1, include_maximum=False)
        self.num_classes = num_classes
        self.filters = filters
        self.feature_dim = feature_dim
        self.dropout = dropout
        policy = self.dtype_policy
        self.convolutions = [
            keras.layers.Conv2D(
                f, 3, padding="same", activation="relu", dtype=policy, name=f"conv_{i}"
            )
            for i, f in enumerate(filters)
        ]
        self.pool = keras.layers.MaxPooling2D(2, dtype=policy, name="pool")
        self.flatten = keras.layers.Flatten(dtype=policy, name="flatten")
        self.feature_dense = keras.layers.Dense(
            feature_dim, activation="relu", dtype=policy, name="features"
        )
        self.feature_dropout = keras.layers.Dropout(dropout, dtype=policy, name="dropout")
        self.logits_dense = keras.layers.Dense(num_classes, dtype=policy, name="logits")

    def build(self, input_shape=None):
        shape = (None, *IMAGE_SHAPE)
        for convolution in self.convolutions:
            convolution.build(shape)
            shape = self.pool.compute_output_shape(convolution.compute_output_shape(shape))
        flat = self.flatten.compute_output_shape(shape)
        self.feature_dense.build(flat)
        self.logits_dense.build((None, self.feature_dim))
        self.built = True

    def _features(self, images, training=None):
        # Inputs in [0, 1], centred to [-1, 1].
        x = ops.cast(images, self.compute_dtype) * 2.0 - 1.0
        for convolution in self.convolutions:
            x = self.pool(convolution(x))
        return self.feature_dense(self.flatten(x))

    def call(self, images, training=None):
        x = self.feature_dropout(self._features(images), training=training)
        return ops.cast(self.logits_dense(x), "float32")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def _function(self):
        def outputs(images):
            features = self._features(images)
            logits = ops.cast(self.logits_dense(features), "float32")
            return ops.cast(features, "float32"), ops.softmax(logits, axis=-1)

        return compiled_function(self, "outputs", lambda: outputs)

    def outputs(self, images, batch_size=500, max_images=None):
        """Features and class probabilities of images (an array or a batched dataset).

        Args:
            images: `(N, 32, 32, 1)` floats in [0, 1] or uint8, or a batched dataset of images
                or `(images, labels)` (see `keras_vim.metrics.image_batches`).
            batch_size: images per call; every call gets this many (the last batch is padded,
                then cut), so the function compiles once.
            max_images: use the first `max_images` images only.

        Returns:
            `{"features": (N, feature_dim), "probabilities": (N, num_classes)}` float32 numpy.
        """
        if not self.built:
            self.build()
        function = self._function()
        features, probabilities = [], []
        for batch in image_batches(images, batch_size, max_images, name="images"):
            if batch.shape[1:] != IMAGE_SHAPE:
                raise ValueError(
                    f"`images` must be 32x32 grayscale images (N, 32, 32, 1), got batches of "
                    f"shape {batch.shape}."
                )
            f, p = call_padded(
                lambda x: function(ops.convert_to_tensor(x.astype("float32"))),
                (batch,),
                batch_size,
            )
            features.append(f)
            probabilities.append(p)
        if not features:
            raise ValueError("`images` holds no images.")
        return {
            "features": np.concatenate(features),
            "probabilities": np.concatenate(probabilities),
        }

    def features(self, images, batch_size=500):
        """Penultimate-layer features `(N, feature_dim)` (numpy) of images in [0, 1]."""
        return self.outputs(images, batch_size)["features"]

    def predict_proba(self, images, batch_size=500):
        """Class probabilities `(N, num_classes)` (numpy) of images in [0, 1]."""
        return self.outputs(images, batch_size)["probabilities"]

    def get_config(self):
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            filters=list(self.filters),
            feature_dim=self.feature_dim,
            dropout=self.dropout,
        )
        return config


def read_classifier_record(path=CLASSIFIER_RECORD):
    """The JSON record `recipes/train_classifier.py` wrote beside the shipped weights."""
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No classifier record at {path!r}: run recipes/train_classifier.py --ship."
        )
    with open(path) as f:
        return json.load(f)


_LOADED = {}


def load_domain_classifier(weights_path=None):
    """The Fashion-MNIST classifier with trained weights (the shipped ones by default).

    Args:
        weights_path: a `.weights.h5` file written by `recipes/train_classifier.py`; its
            configuration is read from the `.json` record beside it. Default: the weights
            shipped in the package. The model for the shipped weights is loaded once and
            shared.

    Returns:
        A built `FashionMNISTClassifier`.
    """
    shipped = weights_path is None
    if shipped and "shipped" in _LOADED:
        return _LOADED["shipped"]
    weights_path = CLASSIFIER_WEIGHTS if shipped else os.fspath(weights_path)
    if not os.path.isfile(weights_path):
        raise FileNotFoundError(
            f"Classifier weights {weights_path!r} not found"
            + (" (the package ships them: is the install complete?)." if shipped else ".")
        )
    record_path = weights_path.replace(".weights.h5", ".json")
    config = read_classifier_record(record_path)["config"] if os.path.isfile(record_path) else {}
    # Unsharded under any distribution the trained model runs in (and shared by later calls).
    with no_distribution():
        model = FashionMNISTClassifier(**config)
        model.build()
        model.load_weights(weights_path)
    if shipped:
        _LOADED["shipped"] = model
    return model
