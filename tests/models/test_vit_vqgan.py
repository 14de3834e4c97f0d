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
        (
            np.full((2, 16, 16, 1), 255.0, "float32"),
            ValueError,
            r"Float `images` must be in \[0, 1\]",
        ),
        (np.full((2, 16, 16, 1), -0.5, "float32"), ValueError, r"must be in \[0, 1\], got .*-0.5"),
        (np.full((2, 16, 16, 1), np.nan, "float32"), ValueError, r"finite values in \[0, 1\]"),
        (np.full((2, 16, 16, 1), np.inf, "float64"), ValueError, r"finite values in \[0, 1\]"),
        ("images", TypeError, r"`images` must be an image array"),
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


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"image_size": 18}, ValueError, "divisible by `patch_size`=4"),
        ({"channels": 0}, ValueError, r"`channels` must be an integer >= 1, got 0"),
        ({"beta": -1}, ValueError, r"`beta` must be a finite real number >= 0, got -1"),
        ({"beta": "0.25"}, TypeError, r"`beta` must be a finite real number >= 0"),
        (
            {"usage_decay": 1.5},
            ValueError,
            r"`usage_decay` must be a finite real number in \[0, 1\]",
        ),
        ({"dead_code_threshold": -0.1}, ValueError, r"`dead_code_threshold` must be .* >= 0"),
        ({"num_codes": 0}, ValueError, r"`num_codes` must be an integer >= 1, got 0"),
        ({"code_dim": 2.0}, TypeError, r"`code_dim` must be an integer >= 1"),
        ({"patch_size": True}, TypeError, r"`patch_size` must be an integer >= 1"),
        ({"discriminator_filters": 0}, ValueError, r"`discriminator_filters` must be an integer"),
    ],
)
def test_bad_constructor_args(micro_vqgan_config, kwargs, error, match):
    with pytest.raises(error, match=match):
        VitVQGAN(**dict(micro_vqgan_config, **kwargs))


def test_numpy_scalars_as_constructor_args(micro_vqgan_config):
    config = dict(micro_vqgan_config, image_size=np.int64(16), beta=np.float32(0.5))
    model = VitVQGAN(**config)
    assert (model.beta, model.image_size) == (0.5, (16, 16))
    assert type(model.beta) is float and type(model.image_size[0]) is int


def test_nested_lists_and_empty_batches(model, rng):
    images = rng.random((2, 16, 16, 1)).astype("float32")
    ids = ops.convert_to_numpy(model.encode(images))
    np.testing.assert_array_equal(ops.convert_to_numpy(model.encode(images.tolist())), ids)
    np.testing.assert_allclose(
        ops.convert_to_numpy(model.decode(ids.tolist())),
        ops.convert_to_numpy(model.decode(ids)),
        atol=1e-6,
    )
    # An empty batch gives an empty result on every backend.
    empty = model.encode(np.zeros((0, 16, 16, 1), "float32"))
    assert tuple(empty.shape) == (0, 4, 4) and "int32" in str(empty.dtype)
    decoded = model.decode(np.zeros((0, 4, 4), "int32"))
    assert tuple(decoded.shape) == (0, 16, 16, 1) and "float32" in str(decoded.dtype)


SHAPE_MESSAGE = r"`images` must have shape \(batch, 16, 16, 1\) for this model \(size \(16, 16\)\)"


def test_a_wrong_image_shape_fails_at_the_boundary(model):
    import tensorflow as tf

    wrong = np.zeros((2, 12, 16, 1), "float32")
    with pytest.raises(ValueError, match=SHAPE_MESSAGE):
        model(wrong)
    with pytest.raises(ValueError, match=SHAPE_MESSAGE):
        model.predict(wrong, verbose=0)
    model.compile(perceptual_weight=0.0)
    for data in (wrong, tf.data.Dataset.from_tensor_slices(wrong).batch(2)):
        with pytest.raises(ValueError, match=SHAPE_MESSAGE):
            model.fit(data, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="rank 4"):
        model.predict(np.zeros((2, 16, 16), "float32"), verbose=0)


def test_fit_refuses_bad_pixel_values_and_keeps_the_weights(model):
    import tensorflow as tf

    model.compile(perceptual_weight=0.0)
    before = [np.array(w) for w in model.get_weights()]
    good = np.full((2, 16, 16, 1), 0.5, "float32")
    for bad, match in [
        (np.full((2, 16, 16, 1), 255.0, "float32"), r"Float `images` must be in \[0, 1\]"),
        (np.full((2, 16, 16, 1), np.nan, "float32"), r"finite values in \[0, 1\]"),
    ]:
        images = np.concatenate([bad, good])
        labels = np.zeros(4, "int32")
        for data in (
            images,
            tf.data.Dataset.from_tensor_slices((images, labels)).batch(2),
            (batch for batch in (images[:2], images[2:])),
        ):
            with pytest.raises(ValueError, match=match):
                model.fit(data, epochs=1, verbose=0, batch_size=2)
        with pytest.raises(ValueError, match=match):
            model.evaluate(tf.data.Dataset.from_tensor_slices(images).batch(2), verbose=0)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


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
    # Its codebook remedies (README, "Codebook usage"): a small init, seeded from the data.
    codebook = ops.convert_to_numpy(model.quantizer.codebook)
    assert 0.005 < codebook.std() < 0.02
    np.testing.assert_array_equal(ops.convert_to_numpy(model.quantizer.code_usage), 0.0)


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


def test_quantizer_options_reach_the_quantizer_and_the_config(micro_vqgan_config, rng):
    options = {"vq_loss_reduction": "sum", "latent_norm": True, "codebook_init_scale": 0.1}
    model = VitVQGAN(**micro_vqgan_config, **options)
    quantizer = model.quantizer
    assert (quantizer.loss_reduction, quantizer.latent_norm) == ("sum", True)
    assert 0.05 < float(np.std(ops.convert_to_numpy(quantizer.codebook))) < 0.2
    assert any(w.path.endswith("quantizer/input_norm/gamma") for w in model.weights)
    clone = VitVQGAN.from_config(model.get_config())
    assert {k: clone.get_config()[k] for k in options} == options
    clone.set_weights(model.get_weights())
    images = rng.random((2, 16, 16, 1)).astype("float32")
    np.testing.assert_array_equal(
        ops.convert_to_numpy(clone.encode(images)), ops.convert_to_numpy(model.encode(images))
    )


def test_numpy_integer_patch_size(micro_vqgan_config, rng):
    model = VitVQGAN(
        **dict(micro_vqgan_config, patch_size=np.int64(micro_vqgan_config["patch_size"]))
    )
    assert isinstance(model.get_config()["patch_size"], int)
    images = rng.random((2, 16, 16, 1)).astype("float32")
    assert tuple(model.encode(images).shape) == (2, *model.grid_size)
