import json
import os
import sys

import numpy as np
import pytest

from keras_vim.data import load_fashion_mnist
from keras_vim.metrics import load_domain_classifier

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "recipes"))
import train_classifier  # noqa: E402


@pytest.mark.large  # a short training run (~40 s on JAX)
def test_train_classifier_recipe_records_what_it_measured(tmp_path):
    output = str(tmp_path)
    record = train_classifier.main(
        ["--source", "subset", "--max-train-images", "1024", "--epochs", "3", "--output", output]
        + ["--filters", "8,16,16", "--feature-dim", "16", "--batch-size", "32"]
        + ["--learning-rate", "5e-3"]
    )
    with open(os.path.join(output, "fashion_mnist_classifier.json")) as f:
        assert json.load(f) == record
    assert record["train_images"] == 1024 and record["config"]["filters"] == [8, 16, 16]
    # The written weights load with their configuration and give the recorded accuracy.
    classifier = load_domain_classifier(os.path.join(output, "fashion_mnist_classifier.weights.h5"))
    assert classifier.feature_dim == 16
    images, labels = load_fashion_mnist("test", source="subset")
    accuracy = np.mean(np.argmax(classifier.predict_proba(images), axis=1) == labels)
    assert accuracy == record["subset_test_accuracy"]
    assert record["subset_test_accuracy"] > 0.25  # three short epochs beat chance (0.1)
