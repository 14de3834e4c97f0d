"""The two training recipes end to end on 8 virtual JAX devices, with a tiny schedule.

`train_vim.py --distribution model --mesh-shape 2,4` once failed in its evaluation after
training (the shipped classifier was built under the prior's layout map); here both recipes
must train, evaluate and write their outputs. The data is cut to the first images of the
shipped Fashion-MNIST subset, so the evaluations take seconds.
"""

import json
import os
import runpy

import keras
import numpy as np
import pytest
from micro_configs import MICRO_VQGAN

from keras_vim.data import fashion_mnist
from keras_vim.models import VitVQGAN

RECIPES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "recipes")
TRAIN_IMAGES, TEST_IMAGES = 16, 40


@pytest.fixture
def few_images(monkeypatch, tmp_path):
    """Fashion-MNIST as the first images of the shipped subset, and no cached VGG16 weights
    (the perceptual term is skipped: nothing downloads)."""
    load_subset = fashion_mnist._load_subset

    def first_images(split):
        images, labels, origin = load_subset(split)
        count = TRAIN_IMAGES if split == "train" else TEST_IMAGES
        return images[:count], labels[:count], origin

    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", str(tmp_path / "no_debian_package"))
    monkeypatch.setattr(fashion_mnist, "_load_subset", first_images)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    yield
    keras.distribution.set_distribution(None)  # the recipe made its setup process-wide


@pytest.fixture
def micro_preset(tmp_path):
    path = str(tmp_path / "micro")
    VitVQGAN(**dict(MICRO_VQGAN, image_size=32)).save_to_preset(path)
    return path


def _run(recipe, argv):
    return runpy.run_path(os.path.join(RECIPES, f"{recipe}.py"))["main"](argv)


def _written(output, names):
    with open(os.path.join(output, "metrics.json")) as f:
        saved = json.load(f)
    missing = [name for name in names if not os.path.exists(os.path.join(output, name))]
    assert not missing, missing
    return saved


@pytest.mark.filterwarnings("ignore:Fashion-MNIST. full dataset not found")
def test_train_vim_model_parallel_trains_and_evaluates(few_images, micro_preset, tmp_path):
    output = str(tmp_path / "vim")
    argv = [
        "--tokenizer", micro_preset, "--num-layers", "1", "--num-heads", "2",
        "--hidden-dim", "16", "--mlp-dim", "32", "--max-train-images", str(TRAIN_IMAGES),
        "--validation-images", "8", "--steps", "2", "--steps-per-epoch", "1",
        "--batch-size", "8", "--samples-per-class", "1", "--eval-samples", "20",
        "--distribution", "model", "--mesh-shape", "2,4", "--output", output,
    ]  # fmt: skip
    metrics = _run("train_vim", argv)
    saved = _written(output, ["model.keras", "preset", "samples.png", "history.csv"])
    assert saved == json.loads(json.dumps(metrics)) and saved["steps"] == 2
    assert np.isfinite(saved["final_logs"]["val_bits_per_token"])
    evaluation = saved["evaluation"]
    assert evaluation["test_images"] == TEST_IMAGES and evaluation["samples"]["count"] == 20
    numbers = [
        evaluation["samples"]["domain_frechet_distance"],
        evaluation["samples"]["class_accuracy"],
        evaluation["reference"]["domain_frechet_distance"],
        evaluation["tokenizer"]["l2"],
        evaluation["tokenizer"]["domain_frechet_distance"],
    ]
    assert all(np.isfinite(numbers)), numbers
    assert 0.0 <= evaluation["samples"]["class_accuracy"] <= 1.0


@pytest.mark.filterwarnings("ignore:Fashion-MNIST. full dataset not found")
def test_train_vit_vqgan_data_parallel_trains_and_evaluates(few_images, micro_preset, tmp_path):
    output = str(tmp_path / "vqgan")
    argv = [
        "--preset", micro_preset, "--steps", "2", "--steps-per-epoch", "1",
        "--batch-size", "8", "--discriminator-start", "1", "--eval-images", "16",
        "--distribution", "data", "--output", output,
    ]  # fmt: skip
    metrics = _run("train_vit_vqgan", argv)
    saved = _written(output, ["model.keras", "preset", "reconstructions.png", "history.csv"])
    assert saved == json.loads(json.dumps(metrics)) and saved["steps"] == 2
    assert saved["test"]["images"] == 16
    assert 0.0 < saved["test"]["codebook_usage"] <= 1.0
    assert all(np.isfinite([saved["test"]["l2"], saved["test"]["psnr"]])), saved["test"]
