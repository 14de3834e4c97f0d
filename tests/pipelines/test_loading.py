"""keras_vim.pipelines: loading models and images by name, the stage-1 settings."""

import numpy as np
import pytest

from keras_vim.data import fashion_mnist
from keras_vim.models import VIM, VitVQGAN, VQGANBase
from keras_vim.pipelines import (
    TokenizerTraining,
    decode_in_batches,
    first_images,
    load_model,
    load_tokenizer_and_prior,
)


@pytest.fixture
def shipped_subset(monkeypatch, tmp_path):
    """The Fashion-MNIST subset shipped in the package (1000 test images)."""
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", str(tmp_path / "no_debian_package"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))


@pytest.mark.filterwarnings("ignore:Fashion-MNIST. full dataset not found")
def test_first_images_are_the_splits_first_images_in_order(shipped_subset):
    images, labels, info = first_images("fashion_mnist", "test", 300, labels=True, batch_size=64)
    assert images.shape == (300, 32, 32, 1) and images.dtype == np.float32
    assert labels.shape == (300,) and labels.dtype == np.int32
    assert 0.0 <= images.min() and images.max() <= 1.0 and info["channels"] == 1
    # The same images as the start of the whole split, whatever the batching.
    every, every_labels, _ = first_images("fashion_mnist", "test", labels=True)
    assert len(every) == 1000
    np.testing.assert_array_equal(images, every[:300])
    np.testing.assert_array_equal(labels, every_labels[:300])
    unlabelled, none, _ = first_images("fashion_mnist", "test", 5)
    assert none is None and np.array_equal(unlabelled, every[:5])
    with pytest.raises(ValueError, match="`limit`"):
        first_images("fashion_mnist", "test", -1)


def test_load_model_takes_a_keras_file_or_a_preset(micro_vqgan_config, tmp_path):
    model = VitVQGAN(**micro_vqgan_config)
    model.save(str(tmp_path / "model.keras"))
    model.save_to_preset(str(tmp_path / "preset"))
    for source in (str(tmp_path / "model.keras"), tmp_path / "preset"):
        loaded = load_model(VQGANBase, source)
        assert isinstance(loaded, VitVQGAN) and loaded.grid_size == model.grid_size
        np.testing.assert_array_equal(loaded.get_weights()[0], np.asarray(model.get_weights()[0]))
    with pytest.raises(ValueError, match="holds a VitVQGAN, not a VIM"):
        load_model(VIM, str(tmp_path / "model.keras"))
    with pytest.raises(TypeError, match="`source`"):
        load_model(VIM, 3)


def test_a_prior_of_another_vocabulary_is_refused(micro_vqgan_config, tmp_path):
    VitVQGAN(**micro_vqgan_config).save_to_preset(str(tmp_path / "tokenizer"))
    tokenizer = VitVQGAN.from_preset(str(tmp_path / "tokenizer"))
    prior = VIM(
        vocabulary_size=tokenizer.num_codes + 1, grid_size=tokenizer.grid_size, num_layers=1,
        num_heads=2, hidden_dim=8, mlp_dim=16,
    )  # fmt: skip
    prior.save_to_preset(str(tmp_path / "prior"))
    with pytest.raises(ValueError, match="vocabulary_size"):
        load_tokenizer_and_prior(str(tmp_path / "tokenizer"), str(tmp_path / "prior"))


def test_tokenizer_training_checks_its_settings():
    assert TokenizerTraining().steps == 1000  # the recipe's defaults
    with pytest.raises(ValueError, match="`steps` must be an integer >= 1, got 0"):
        TokenizerTraining(steps=0)
    with pytest.raises(TypeError, match="`batch_size`"):
        TokenizerTraining(batch_size=8.0)
    with pytest.raises(ValueError, match="`warmup_steps` must be at most `steps` \\(10\\)"):
        TokenizerTraining(steps=10, warmup_steps=11)
    with pytest.raises(ValueError, match="`channels`"):
        TokenizerTraining(channels=2)
    with pytest.raises(ValueError, match="`learning_rate`"):
        TokenizerTraining(learning_rate=0.0)


def test_decoding_in_batches_equals_one_call(micro_vqgan_config, rng):
    tokenizer = VitVQGAN(**micro_vqgan_config)
    grid = tuple(tokenizer.grid_size)
    ids = rng.integers(0, tokenizer.num_codes, (5, *grid)).astype("int32")
    images = decode_in_batches(tokenizer, ids, batch_size=2)  # batches of 2, 2 and 1
    assert images.shape == (5, *tokenizer.image_size, tokenizer.channels)
    assert images.dtype == np.float32
    np.testing.assert_allclose(images, np.asarray(tokenizer.decode(ids)), atol=1e-5)
    with pytest.raises(ValueError, match="batch_size"):
        decode_in_batches(tokenizer, ids, batch_size=0)
