import json
import os

import keras
import numpy as np
import pytest
from keras import ops

from keras_vim.models import VitVQGAN

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "micro_vqgan")


@pytest.fixture
def model(micro_vqgan_config):
    return VitVQGAN(**micro_vqgan_config)


def test_encode_decode_shapes_and_dtypes(model, rng):
    images = rng.random((3, 16, 16, 1)).astype("float32")
    ids = model.encode(images)
    assert tuple(ids.shape) == (3, 4, 4)
    assert "int32" in str(ids.dtype)
    ids = ops.convert_to_numpy(ids)
    assert ids.min() >= 0 and ids.max() < 32
    decoded = ops.convert_to_numpy(model.decode(ids))
    assert decoded.shape == (3, 16, 16, 1) and decoded.dtype == np.float32
    assert decoded.min() >= 0.0 and decoded.max() <= 1.0
    # call() is decode(encode()) for a trained-or-not model: the same codes, the same pixels.
    np.testing.assert_allclose(ops.convert_to_numpy(model(images)), decoded, atol=1e-5)


def test_uint8_images_equal_scaled_floats(model, rng):
    images = rng.integers(0, 256, (2, 16, 16, 1)).astype("uint8")
    np.testing.assert_array_equal(
        ops.convert_to_numpy(model.encode(images)),
        ops.convert_to_numpy(model.encode(images.astype("float32") / 255.0)),
    )


def test_rgb_and_rectangular_images(micro_vqgan_config, rng):
    config = dict(micro_vqgan_config, channels=3, image_size=(16, 8), logit_laplace=False)
    model = VitVQGAN(**config)
    ids = model.encode(rng.random((2, 16, 8, 3)).astype("float32"))
    assert tuple(ids.shape) == (2, 4, 2)
    assert tuple(model.decode(ids).shape) == (2, 16, 8, 3)


@pytest.mark.parametrize(
    "images, error, match",
    [
        (np.zeros((16, 16, 1), "float32"), ValueError, "rank 4"),
        (np.zeros((2, 16, 16, 3), "float32"), ValueError, "1 channel"),
        (np.zeros((2, 12, 16, 1), "float32"), ValueError, r"size \(16, 16\)"),
        (np.full((2, 16, 16, 1), 300, "int32"), ValueError, r"\[0, 255\]"),
        (np.full((2, 16, 16, 1), -1, "int64"), ValueError, r"\[0, 255\]"),
        (np.zeros((2, 16, 16, 1), bool), TypeError, "float or integer"),
    ],
)
def test_bad_images(model, images, error, match):
    with pytest.raises(error, match=match):
        model.encode(images)


@pytest.mark.parametrize(
    "ids, error, match",
    [
        (np.full((2, 4, 4), 32, "int32"), ValueError, r"\[0, 31\]"),
        (np.full((2, 4, 4), -1, "int32"), ValueError, r"\[0, 31\]"),
        (np.zeros((2, 16), "int32"), ValueError, r"\(batch, 4, 4\)"),
        (np.zeros((2, 4, 4), "float32"), TypeError, "integer"),
    ],
)
def test_bad_ids(model, ids, error, match):
    with pytest.raises(error, match=match):
        model.decode(ids)


def test_bad_constructor_args(micro_vqgan_config):
    with pytest.raises(ValueError, match="divisible by `patch_size`=4"):
        VitVQGAN(**dict(micro_vqgan_config, image_size=18))
    with pytest.raises(ValueError, match="`channels`"):
        VitVQGAN(**dict(micro_vqgan_config, channels=0))


def test_keras_and_weights_round_trips(model, rng, tmp_path):
    images = rng.random((2, 16, 16, 1)).astype("float32")
    ids = ops.convert_to_numpy(model.encode(images))
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, VitVQGAN)
    np.testing.assert_array_equal(ops.convert_to_numpy(restored.encode(images)), ids)
    np.testing.assert_allclose(
        ops.convert_to_numpy(restored(images)), ops.convert_to_numpy(model(images)), atol=1e-6
    )
    weights = str(tmp_path / "model.weights.h5")
    model.save_weights(weights)
    fresh = VitVQGAN.from_config(model.get_config())
    assert not np.array_equal(ops.convert_to_numpy(fresh.encode(images)), ids)
    fresh.load_weights(weights)
    np.testing.assert_array_equal(ops.convert_to_numpy(fresh.encode(images)), ids)


def test_weights_saved_under_another_backend_give_the_same_ids():
    """The fixture was saved under JAX (tests/fixtures/make_fixtures.py); this runs everywhere."""
    with open(os.path.join(FIXTURE, "expected.json")) as f:
        expected = json.load(f)
    model = VitVQGAN.from_preset(FIXTURE)
    images = np.load(os.path.join(FIXTURE, "images.npy"))
    ids = ops.convert_to_numpy(model.encode(images))
    np.testing.assert_array_equal(ids, np.array(expected["ids"]))
    np.testing.assert_allclose(
        ops.convert_to_numpy(model.decode(ids)).mean(), expected["decoded_mean"], rtol=1e-4
    )


def test_presets_list_paper_sizes():
    presets = VitVQGAN.presets()
    assert {"vit_vqgan_ss", "vit_vqgan_bb", "vit_vqgan_sl", "vit_vqgan_tiny"} <= set(presets)
    config = VitVQGAN.builtin_presets["vit_vqgan_sl"]["config"]
    assert (config["encoder_num_layers"], config["encoder_hidden_dim"]) == (8, 512)
    assert (config["decoder_num_layers"], config["decoder_num_heads"]) == (32, 16)
    assert (config["decoder_hidden_dim"], config["decoder_mlp_dim"]) == (1280, 5120)
    with pytest.raises(ValueError, match="Unknown VitVQGAN preset 'nope'"):
        VitVQGAN.from_preset("nope")


def test_tiny_preset_builds(rng):
    model = VitVQGAN.from_preset("vit_vqgan_tiny")
    ids = model.encode(rng.random((1, 32, 32, 1)).astype("float32"))
    assert tuple(ids.shape) == (1, 8, 8)


def test_preset_directory_round_trip(model, rng, tmp_path):
    images = rng.random((2, 16, 16, 1)).astype("float32")
    model.save_to_preset(str(tmp_path / "preset"))
    assert {"config.json", "model.weights.h5", "metadata.json"} <= set(
        os.listdir(tmp_path / "preset")
    )
    restored = VitVQGAN.from_preset(str(tmp_path / "preset"))
    np.testing.assert_array_equal(
        ops.convert_to_numpy(restored.encode(images)), ops.convert_to_numpy(model.encode(images))
    )
    os.remove(tmp_path / "preset" / "model.weights.h5")
    with pytest.raises(FileNotFoundError, match="model.weights.h5"):
        VitVQGAN.from_preset(str(tmp_path / "preset"))
