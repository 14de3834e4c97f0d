import os
import warnings

import h5py
import keras
import numpy as np
import pytest

from keras_vim.losses import VGG_WEIGHTS_HELP, PerceptualLoss
from keras_vim.losses.perceptual import VGG_FEATURE_LAYERS, VGG_WEIGHTS_FILENAME


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _images(rng, shape):
    return rng.uniform(size=shape).astype("float32")


def _save_legacy_h5(model, path):
    # The layout of Keras' cached `vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5`.
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [layer.name.encode() for layer in model.layers]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for layer in model.layers:
            group = f.create_group(layer.name)
            names = [f"{layer.name}/{i}:0" for i in range(len(layer.weights))]
            group.attrs["weight_names"] = [name.encode() for name in names]
            for name, weight in zip(names, layer.weights, strict=True):
                group.create_dataset(name, data=_np(weight))


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A random VGG16 (no top), its feature sub-model, and its weights in both file formats."""
    keras.utils.set_random_seed(1)
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    features = keras.Model(vgg.input, [vgg.get_layer(n).output for n in VGG_FEATURE_LAYERS])
    folder = tmp_path_factory.mktemp("vgg")
    weights_h5 = str(folder / "vgg16.weights.h5")
    vgg.save_weights(weights_h5)
    keras_home = folder / "keras_home"
    (keras_home / "models").mkdir(parents=True)
    _save_legacy_h5(vgg, str(keras_home / "models" / VGG_WEIGHTS_FILENAME))
    return {"features": features, "weights_h5": weights_h5, "keras_home": str(keras_home)}


@pytest.fixture(scope="module")
def perceptual(source):
    return PerceptualLoss(weights=source["weights_h5"])


def _numpy_loss(features, batch):
    total = np.zeros(batch)
    for feature in features:
        feature = _np(feature).astype("float64")
        feature = feature / (np.sqrt(np.sum(feature**2, axis=-1, keepdims=True)) + 1e-10)
        total += np.mean((feature[:batch] - feature[batch:]) ** 2, axis=(1, 2, 3))
    return total


def test_zero_for_identical_positive_and_symmetric(perceptual, rng):
    x = _images(rng, (2, 32, 32, 3))
    y = _images(rng, (2, 32, 32, 3))
    same = _np(perceptual(x, x))
    assert same.shape == (2,) and same.dtype == np.float32
    np.testing.assert_allclose(same, 0.0, atol=1e-6)
    xy, yx = _np(perceptual(x, y)), _np(perceptual(y, x))
    assert np.all(xy > 1e-4)
    np.testing.assert_allclose(xy, yx, rtol=1e-5)
    # A small perturbation is closer than an unrelated image.
    near = _np(perceptual(x, np.clip(x + 0.02, 0, 1)))
    assert np.all(near < xy)


def test_matches_numpy_recomputation(perceptual, rng):
    x = _images(rng, (2, 32, 32, 3))
    y = _images(rng, (2, 32, 32, 3))
    both = keras.ops.concatenate([perceptual.preprocess(x), perceptual.preprocess(y)], axis=0)
    expected = _numpy_loss(perceptual.feature_model(both), 2)
    np.testing.assert_allclose(_np(perceptual(x, y)), expected, rtol=1e-4, atol=1e-7)


def test_preprocessing_matches_keras_caffe_mode(perceptual, rng):
    x = _images(rng, (2, 32, 32, 3))
    expected = keras.applications.vgg16.preprocess_input(x * 255.0)
    np.testing.assert_allclose(_np(perceptual.preprocess(x)), expected, rtol=1e-5, atol=1e-3)


def test_one_channel_is_tiled_and_small_images_resized(perceptual, rng):
    x = _images(rng, (2, 16, 16, 1))
    y = _images(rng, (2, 16, 16, 1))
    assert tuple(perceptual.preprocess(x).shape) == (2, 32, 32, 3)
    gray = _np(perceptual(x, y))
    rgb = _np(perceptual(np.repeat(x, 3, axis=-1), np.repeat(y, 3, axis=-1)))
    assert gray.shape == (2,) and np.all(np.isfinite(gray)) and np.all(gray > 0)
    np.testing.assert_allclose(gray, rgb, rtol=1e-5)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        perceptual(_images(rng, (1, 32, 32, 2)), _images(rng, (1, 32, 32, 2)))


def test_weights_path_loads_source_weights(perceptual, source, rng):
    assert len(perceptual.trainable_weights) == 0  # frozen
    x = _images(rng, (2, 32, 32, 3))
    prep = perceptual.preprocess(x)
    for got, want in zip(perceptual.feature_model(prep), source["features"](prep), strict=True):
        np.testing.assert_allclose(_np(got), _np(want), rtol=1e-5, atol=1e-4)


def test_imagenet_reads_keras_cache(monkeypatch, source, perceptual, rng):
    monkeypatch.setenv("KERAS_HOME", source["keras_home"])
    cached = PerceptualLoss(weights="imagenet")
    x = _images(rng, (2, 32, 32, 3))
    y = _images(rng, (2, 32, 32, 3))
    np.testing.assert_allclose(_np(cached(x, y)), _np(perceptual(x, y)), rtol=1e-5)
    assert cached.get_config()["weights"] == "imagenet"


def test_imagenet_missing_raises_helpful_error(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError) as info:
        PerceptualLoss(weights="imagenet")
    message = str(info.value)
    assert VGG_WEIGHTS_HELP in message
    assert os.path.join(str(tmp_path), "models", VGG_WEIGHTS_FILENAME) in message
    for hint in ('weights="imagenet"', "weights=<path>", "perceptual_weight=0"):
        assert hint in message


def test_bad_weights_argument(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        PerceptualLoss(weights=str(tmp_path / "missing.weights.h5"))
    with pytest.raises(ValueError, match="imagenet"):
        PerceptualLoss(weights="vgg.bin")
    with pytest.raises(ValueError, match="resize_to"):
        PerceptualLoss(weights=None, resize_to=16)


def test_config_round_trip_and_resize_to(perceptual, rng):
    config = perceptual.get_config()
    assert config["weights"] == perceptual.vgg_weights and config["resize_to"] is None
    config["resize_to"] = [40, 36]  # as JSON would give it back
    clone = PerceptualLoss.from_config(config)
    assert tuple(clone.get_config()["resize_to"]) == (40, 36)
    x = _images(rng, (1, 32, 32, 3))
    y = _images(rng, (1, 32, 32, 3))
    assert tuple(clone.preprocess(x).shape) == (1, 40, 36, 3)
    # The clone reloads the same weights file; resizing is the only difference.
    resized = [keras.ops.image.resize(v, (40, 36), interpolation="bilinear") for v in (x, y)]
    np.testing.assert_allclose(_np(clone(x, y)), _np(perceptual(*resized)), rtol=1e-5)


def test_mixed_bfloat16(rng):
    keras.config.set_dtype_policy("mixed_bfloat16")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # weights=None is a quiet, supported path
        layer = PerceptualLoss(weights=None)
    assert layer.feature_model.get_layer("block1_conv2").compute_dtype == "bfloat16"
    x = _images(rng, (2, 32, 32, 3))
    loss = layer(x, _images(rng, (2, 32, 32, 3)))
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    assert np.all(np.isfinite(_np(loss))) and np.all(_np(loss) > 0)
    np.testing.assert_allclose(_np(layer(x, x)), 0.0, atol=1e-6)
