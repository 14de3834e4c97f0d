import os

import keras
import numpy as np
import pytest

from keras_vim.layers.discriminator import StyleGANDiscriminator, mbstd_group_size_for_batch


def _images(rng, shape):
    return rng.uniform(size=shape).astype("float32")


def _small(**kwargs):
    # One width everywhere: JAX compiles each initializer once per weight shape, so repeated
    # shapes keep the eager tests fast.
    kwargs.setdefault("filters", 4)
    kwargs.setdefault("max_filters", 4)
    return StyleGANDiscriminator(**kwargs)


@pytest.mark.parametrize("shape", [(2, 32, 32, 1), (3, 64, 64, 3)])
def test_output_shape_and_dtype(rng, shape):
    disc = _small()
    logits = keras.ops.convert_to_numpy(disc(_images(rng, shape)))
    assert logits.shape == (shape[0], 1)
    assert logits.dtype == np.float32
    assert np.all(np.isfinite(logits))
    # Auto depth: down to 4x4 on the short side.
    assert len(disc.block_skips) == int(np.log2(shape[1] // 4))


def test_widths_follow_filters_and_cap(rng):
    disc = _small(filters=2, max_filters=4, num_blocks=2)
    disc.build((2, 16, 16, 3))
    assert disc.from_rgb.filters == 2
    assert [conv.filters for conv in disc.block_skips] == [4, 4]
    assert disc.final_dense.units == 4
    assert tuple(disc.final_conv.kernel.shape) == (3, 3, 5, 4)  # + 1 mbstd channel
    assert tuple(disc.final_dense.kernel.shape) == (4 * 4 * 4, 4)


def test_non_square_and_explicit_num_blocks(rng):
    disc = _small(num_blocks=2)
    assert keras.ops.convert_to_numpy(disc(_images(rng, (2, 8, 12, 3)))).shape == (2, 1)


@pytest.mark.parametrize(
    "batch, group, expected",
    [(8, 4, 4), (2, 4, 2), (1, 4, 1), (6, 4, 3), (9, 4, 3), (5, 4, 5), (7, 4, 7), (12, 8, 6)],
)
def test_mbstd_group_size_fallback(batch, group, expected):
    assert mbstd_group_size_for_batch(batch, group) == expected


@pytest.mark.parametrize("batch", [3, 5, 6])
def test_batch_not_divisible_by_group(rng, batch):
    disc = _small(mbstd_group_size=4)
    logits = keras.ops.convert_to_numpy(disc(_images(rng, (batch, 16, 16, 3))))
    assert logits.shape == (batch, 1)
    assert np.all(np.isfinite(logits))


def test_mbstd_groups_couple_only_images_of_the_same_group(rng):
    # B=4, group 2 -> StyleGAN2 grouping: image b is in group b % 2, i.e. {0, 2} and {1, 3}.
    disc = _small(mbstd_group_size=2)
    images = _images(rng, (4, 16, 16, 3))
    before = keras.ops.convert_to_numpy(disc(images))
    changed = images.copy()
    changed[1] = _images(rng, (16, 16, 3))
    after = keras.ops.convert_to_numpy(disc(changed))
    np.testing.assert_allclose(after[[0, 2]], before[[0, 2]], rtol=1e-5, atol=1e-6)
    assert not np.allclose(after[3], before[3], rtol=1e-5, atol=1e-6)


def test_centres_inputs(rng):
    # The input scaling to [-1, 1] is part of the layer: constant 0.5 images look like zeros.
    disc = _small(mbstd_group_size=1)
    images = np.full((2, 16, 16, 3), 0.5, "float32")
    logits = keras.ops.convert_to_numpy(disc(images))
    kernel = keras.ops.convert_to_numpy(disc.from_rgb.kernel)
    assert kernel.shape == (1, 1, 3, 4)
    disc.from_rgb.bias.assign(np.zeros(4, "float32"))
    # With a zero input and zero from_rgb bias, the output depends only on the later biases.
    for layer in [*disc.block_convs_a, *disc.block_convs_b, disc.final_conv, disc.final_dense]:
        layer.bias.assign(np.zeros(layer.bias.shape, "float32"))
    disc.output_dense.bias.assign(np.array([0.25], "float32"))
    out = keras.ops.convert_to_numpy(disc(images))
    # Only the mbstd floor sqrt(1e-8) remains; uncentred 0.5 inputs would move the logit a lot.
    np.testing.assert_allclose(out, 0.25, atol=1e-3)
    assert logits.shape == out.shape


@pytest.mark.parametrize(
    "shape, kwargs",
    [((2, 30, 30, 3), {"num_blocks": 3}), ((2, 32, 48, 3), {"num_blocks": 5}), ((2, 4, 4, 3), {})],
)
def test_bad_image_size_raises(shape, kwargs):
    disc = _small(**kwargs)
    with pytest.raises(ValueError, match=r"input shape"):
        disc.build(shape)


@pytest.mark.parametrize("name", ["filters", "max_filters", "num_blocks", "mbstd_group_size"])
def test_bad_arguments_raise(name):
    with pytest.raises(ValueError, match=rf"`{name}` must be (None or )?an integer >= 1, got 0"):
        StyleGANDiscriminator(**{name: 0})
    for bad in (2.7, True, "4"):
        with pytest.raises(TypeError, match=rf"`{name}` must be"):
            StyleGANDiscriminator(**{name: bad})


def test_integer_arguments_are_stored_as_ints():
    disc = StyleGANDiscriminator(
        filters=np.int64(8), max_filters=16, num_blocks=None, mbstd_group_size=np.int32(2)
    )
    assert (disc.filters, disc.max_filters, disc.num_blocks, disc.mbstd_group_size) == (
        8,
        16,
        None,
        2,
    )
    assert type(disc.filters) is int and type(disc.mbstd_group_size) is int


def test_get_config_round_trip(rng):
    disc = _small(num_blocks=2, mbstd_group_size=2, name="disc")
    images = _images(rng, (4, 16, 16, 3))
    expected = keras.ops.convert_to_numpy(disc(images))
    config = disc.get_config()
    expected_args = {"filters": 4, "max_filters": 4, "num_blocks": 2, "mbstd_group_size": 2}
    assert {key: config[key] for key in expected_args} == expected_args
    clone = StyleGANDiscriminator.from_config(config)
    clone.build(images.shape)
    clone.set_weights(disc.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(clone(images)), expected, atol=1e-6)
    # Registered under the package name, so generic deserialization finds it.
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(disc))
    assert isinstance(restored, StyleGANDiscriminator)
    assert restored.get_config() == config


def test_keras_file_round_trip(rng, tmp_path):
    inputs = keras.Input((16, 16, 1))
    model = keras.Model(inputs, _small()(inputs))
    images = _images(rng, (3, 16, 16, 1))
    expected = keras.ops.convert_to_numpy(model(images))
    path = os.path.join(tmp_path, "disc.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(images)), expected, atol=1e-6)
    weights_path = os.path.join(tmp_path, "disc.weights.h5")
    model.save_weights(weights_path)
    fresh = keras.Model(inputs, _small()(inputs))
    fresh.load_weights(weights_path)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fresh(images)), expected, atol=1e-6)


def test_mixed_bfloat16(rng):
    keras.config.set_dtype_policy("mixed_bfloat16")
    disc = _small()
    logits = disc(_images(rng, (2, 16, 16, 3)))
    assert disc.from_rgb.compute_dtype == "bfloat16"
    assert disc.from_rgb.kernel.dtype == "float32"
    logits = keras.ops.convert_to_numpy(logits)
    assert logits.dtype == np.float32
    assert np.all(np.isfinite(logits))


def test_fit_step_changes_weights(rng):
    inputs = keras.Input((16, 16, 3))
    model = keras.Model(inputs, _small()(inputs))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=keras.losses.BinaryCrossentropy(True))
    before = [np.array(w) for w in model.get_weights()]
    model.fit(_images(rng, (4, 16, 16, 3)), np.ones((4, 1), "float32"), epochs=1, verbose=0)
    after = model.get_weights()
    assert all(not np.allclose(a, b) for a, b in zip(before, after, strict=True))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="dynamic batch: TF graphs")
def test_dynamic_batch_uses_whole_batch_as_group(rng):
    import tensorflow as tf

    disc = _small(mbstd_group_size=4)
    images = _images(rng, (3, 16, 16, 3))
    eager = disc(images).numpy()  # static batch 3 -> group 3 = the whole batch
    traced = tf.function(disc, input_signature=[tf.TensorSpec((None, 16, 16, 3), tf.float32)])
    np.testing.assert_allclose(traced(images).numpy(), eager, rtol=1e-5, atol=1e-6)
