import json
import os

import keras
import numpy as np
import pytest
from keras import ops
from micro_configs import MICRO_CNN_VQGAN

from keras_vim.distribution import cnn_vqgan_layout_map
from keras_vim.models import CnnVQGAN, VitVQGAN, VQGANBase

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "micro_cnn_vqgan")


@pytest.fixture
def model():
    return CnnVQGAN(**MICRO_CNN_VQGAN)


def test_encode_decode_like_the_vit_tokenizer(model, rng):
    images = rng.random((3, 16, 16, 1)).astype("float32")
    ids = ops.convert_to_numpy(model.encode(images))
    assert ids.shape == (3, 4, 4) and ids.min() >= 0 and ids.max() < 32
    decoded = ops.convert_to_numpy(model.decode(ids))
    assert decoded.shape == (3, 16, 16, 1) and 0.0 <= decoded.min() <= decoded.max() <= 1.0
    np.testing.assert_allclose(ops.convert_to_numpy(model(images)), decoded, atol=1e-5)
    with pytest.raises(ValueError, match="1 channel"):
        model.encode(np.zeros((1, 16, 16, 3), "float32"))


def test_bad_constructor_args():
    with pytest.raises(ValueError, match="power of 2"):
        CnnVQGAN(**dict(MICRO_CNN_VQGAN, patch_size=6, image_size=24))
    with pytest.raises(ValueError, match="`channel_multipliers` must hold 3"):
        CnnVQGAN(**dict(MICRO_CNN_VQGAN, channel_multipliers=(1, 2, 2, 2)))
    with pytest.raises(ValueError, match="`latent_dim`"):
        CnnVQGAN(**dict(MICRO_CNN_VQGAN, latent_dim=0))


def test_training_updates_both_convnets_and_lowers_the_loss(model):
    # Eight flat grey levels: learnable by a 32-code tokenizer in a few steps.
    images = np.ones((8, 16, 16, 1), "float32") * np.linspace(0, 1, 8)[:, None, None, None]
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        discriminator_optimizer=keras.optimizers.Adam(1e-4),
        perceptual_weight=0.0,
        discriminator_start=1000,
    )
    trained = model.encoder.trainable_weights + model.decoder.trainable_weights
    before = [ops.convert_to_numpy(w) for w in trained]
    history = model.fit(images, epochs=15, batch_size=8, verbose=0).history
    assert history["l2"][-1] < 0.9 * history["l2"][0]
    unchanged = [w.path for w, b in zip(trained, before) if np.array_equal(w.numpy(), b)]
    assert not unchanged


def test_save_load_and_preset_class_check(model, rng, tmp_path):
    images = rng.random((2, 16, 16, 1)).astype("float32")
    ids = ops.convert_to_numpy(model.encode(images))
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, CnnVQGAN)
    np.testing.assert_array_equal(ops.convert_to_numpy(restored.encode(images)), ids)
    model.save_to_preset(str(tmp_path / "preset"))
    loaded = CnnVQGAN.from_preset(str(tmp_path / "preset"))
    np.testing.assert_array_equal(ops.convert_to_numpy(loaded.encode(images)), ids)
    with pytest.raises(ValueError, match="describes a CnnVQGAN"):
        VitVQGAN.from_preset(str(tmp_path / "preset"))
    # The base class loads whichever tokenizer a preset holds (the recipes' --tokenizer).
    via_base = VQGANBase.from_preset(str(tmp_path / "preset"))
    assert type(via_base) is CnnVQGAN
    np.testing.assert_array_equal(ops.convert_to_numpy(via_base.encode(images)), ids)


def test_base_class_presets_and_names():
    names = VQGANBase.presets()
    assert {"cnn_vqgan_tiny", "vit_vqgan_tiny"} <= set(names)
    assert "cnn_vqgan_tiny" not in VitVQGAN.presets()
    assert type(VQGANBase.from_preset("cnn_vqgan_tiny", image_size=16)) is CnnVQGAN
    assert type(VQGANBase.from_preset("vit_vqgan_tiny", image_size=16)) is VitVQGAN
    with pytest.raises(ValueError, match="Unknown VQGANBase preset.*cnn_vqgan_tiny"):
        VQGANBase.from_preset("no_such_tokenizer")


def test_weights_saved_under_another_backend_give_the_same_ids():
    """The fixture was saved under JAX (tests/fixtures/make_fixtures.py); this runs everywhere."""
    with open(os.path.join(FIXTURE, "expected.json")) as f:
        expected = json.load(f)
    model = CnnVQGAN.from_preset(FIXTURE)
    ids = ops.convert_to_numpy(model.encode(np.load(os.path.join(FIXTURE, "images.npy"))))
    np.testing.assert_array_equal(ids, np.array(expected["ids"]))
    np.testing.assert_allclose(
        ops.convert_to_numpy(model.decode(ids)).mean(), expected["decoded_mean"], rtol=1e-4
    )


def test_tiny_preset_matches_the_vit_tiny_size():
    def count(layer):
        return sum(int(np.prod(w.shape)) for w in layer.trainable_weights)

    cnn = CnnVQGAN.from_preset("cnn_vqgan_tiny")
    vit = VitVQGAN.from_preset("vit_vqgan_tiny")
    cnn_total, vit_total = (
        count(cnn.encoder) + count(cnn.decoder),
        count(vit.encoder) + count(vit.decoder),
    )
    assert abs(cnn_total / vit_total - 1) < 0.1
    assert cnn.grid_size == vit.grid_size == (8, 8)


def test_layout_map_splits_every_conv_kernel_by_output_channel(model):
    mesh = keras.distribution.DeviceMesh((1, 1), ("batch", "model"), ["cpu:0"])
    layout_map = CnnVQGAN.get_layout_map(mesh)
    assert type(layout_map) is type(cnn_vqgan_layout_map(mesh))
    sharded = 0
    for variable in model.weights:
        layout = layout_map[variable.path]
        in_coder = "/encoder/" in variable.path or "/decoder/" in variable.path
        is_conv = "conv" in variable.path or "shortcut" in variable.path
        if in_coder and is_conv and variable.path.endswith("kernel"):
            assert tuple(layout.axes) == (None, None, None, "model"), variable.path
            sharded += 1
        elif not (in_coder and is_conv):
            assert layout is None, variable.path
    # Each of encoder and decoder: conv_in, 3 levels x 2 convs, 2 down/upsampling convs,
    # 1 shortcut (where the width changes: 4 -> 8 channels), the middle block's 2, conv_out.
    assert sharded == 2 * 13
