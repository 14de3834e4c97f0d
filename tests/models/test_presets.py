"""Preset directories: round trips, the model card, hub handles and every broken-file error."""

import json
import os
import shutil
import sys
import types

import keras
import numpy as np
import pytest
from file_snapshots import directory_files as snapshot
from keras import ops

from keras_vim.models import VIM, VitVQGAN

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures")
MICRO_VIM = dict(
    vocabulary_size=16,
    grid_size=(2, 3),
    num_layers=1,
    num_heads=2,
    hidden_dim=16,
    mlp_dim=32,
    num_classes=3,
    dropout=0.0,
)


def numpy(x):
    return ops.convert_to_numpy(x)


@pytest.fixture(scope="module")
def vqgan_preset(tmp_path_factory):
    """A micro tokenizer after one adversarial step (trained discriminator and optimizers)."""
    from micro_configs import MICRO_VQGAN

    keras.utils.set_random_seed(3)
    model = VitVQGAN(**MICRO_VQGAN)
    model.compile(perceptual_weight=0.0, discriminator_start=0)
    images = np.random.default_rng(3).random((4, 16, 16, 1)).astype("float32")
    model.fit(images, batch_size=4, epochs=1, verbose=0)
    directory = str(tmp_path_factory.mktemp("presets") / "vqgan")
    model.save_to_preset(directory, model_card="## Training\n\nOne step on noise.")
    return model, directory, images


def copy_preset(directory, tmp_path):
    target = str(tmp_path / "copy")
    shutil.copytree(directory, target)
    return target


def test_vqgan_round_trip_restores_generator_and_discriminator(vqgan_preset):
    model, directory, images = vqgan_preset
    assert set(os.listdir(directory)) == {
        "config.json",
        "model.weights.h5",
        "discriminator.weights.h5",
        "metadata.json",
        "README.md",
    }
    restored = VitVQGAN.from_preset(directory)
    np.testing.assert_array_equal(numpy(restored.encode(images)), numpy(model.encode(images)))
    np.testing.assert_allclose(numpy(restored(images)), numpy(model(images)), atol=1e-6)
    for saved, loaded in zip(model.discriminator.weights, restored.discriminator.weights):
        np.testing.assert_array_equal(numpy(loaded), numpy(saved))
    fresh = VitVQGAN.from_preset(directory, load_weights=False)
    assert not np.allclose(numpy(fresh(images)), numpy(model(images)))


def test_preset_keeps_optimizer_state_out(vqgan_preset):
    import h5py

    _, directory, _ = vqgan_preset
    names = []
    with h5py.File(os.path.join(directory, "model.weights.h5")) as f:
        f.visit(names.append)
    assert names and not any("optimizer" in name or "discriminator" in name for name in names)


def test_metadata_and_model_card(vqgan_preset):
    model, directory, _ = vqgan_preset
    with open(os.path.join(directory, "metadata.json")) as f:
        metadata = json.load(f)
    assert metadata["class_name"] == "VitVQGAN"
    assert metadata["parameter_count"] == model.count_params()
    assert metadata["weights_files"] == ["model.weights.h5", "discriminator.weights.h5"]
    with open(os.path.join(directory, "README.md")) as f:
        card = f.read()
    assert card.startswith("# ") and "VitVQGAN" in card
    assert f"{model.count_params():,}" in card and "One step on noise." in card
    assert "`num_codes`: 32" in card


def test_vim_round_trip_and_overrides(tmp_path):
    keras.utils.set_random_seed(4)
    model = VIM(**MICRO_VIM)
    tokens = np.random.default_rng(4).integers(0, 16, (2, 2, 3)).astype("int32")
    classes = np.array([0, 2], "int32")
    model.save_to_preset(str(tmp_path / "vim"))
    assert "discriminator.weights.h5" not in os.listdir(tmp_path / "vim")
    restored = VIM.from_preset(str(tmp_path / "vim"))
    np.testing.assert_allclose(
        numpy(restored((tokens, classes))), numpy(model((tokens, classes))), atol=1e-6
    )
    # An override that keeps every weight shape still loads the weights.
    dropped = VIM.from_preset(str(tmp_path / "vim"), class_dropout=0.5)
    assert dropped.class_dropout == 0.5


def test_weights_saved_under_jax_load_on_this_backend():
    directory = os.path.join(FIXTURES, "micro_vim")
    with open(os.path.join(directory, "expected.json")) as f:
        expected = json.load(f)
    model = VIM.from_preset(directory)
    tokens = np.array(expected["tokens"], "int32")
    classes = np.array(expected["class_ids"], "int32")
    np.testing.assert_allclose(
        numpy(model((tokens, classes))), np.array(expected["logits"]), atol=1e-5
    )


# --- broken presets: every error names the file and the problem ---------------------------


def test_missing_config(vqgan_preset, tmp_path):
    directory = copy_preset(vqgan_preset[1], tmp_path)
    os.remove(os.path.join(directory, "config.json"))
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        VitVQGAN.from_preset(directory)


def test_invalid_config(vqgan_preset, tmp_path):
    directory = copy_preset(vqgan_preset[1], tmp_path)
    with open(os.path.join(directory, "config.json"), "w") as f:
        f.write('{"class_name": "VitVQ')
    with pytest.raises(ValueError, match="config.json is not valid JSON"):
        VitVQGAN.from_preset(directory)


def test_preset_of_another_class(vqgan_preset):
    with pytest.raises(ValueError, match="describes a VitVQGAN, not a VIM"):
        VIM.from_preset(vqgan_preset[1])


@pytest.mark.parametrize("name", ["model.weights.h5", "discriminator.weights.h5"])
def test_missing_weights_file(vqgan_preset, tmp_path, name):
    directory = copy_preset(vqgan_preset[1], tmp_path)
    os.remove(os.path.join(directory, name))
    with pytest.raises(FileNotFoundError, match=f"{name}' is missing"):
        VitVQGAN.from_preset(directory)
    assert VitVQGAN.from_preset(directory, load_weights=False).built


def test_truncated_weights_file(vqgan_preset, tmp_path):
    directory = copy_preset(vqgan_preset[1], tmp_path)
    path = os.path.join(directory, "model.weights.h5")
    with open(path, "rb") as f:
        head = f.read(os.path.getsize(path) // 2)
    with open(path, "wb") as f:
        f.write(head)
    with pytest.raises(ValueError, match="model.weights.h5' is truncated"):
        VitVQGAN.from_preset(directory)


@pytest.mark.parametrize(
    "config_change", [{"encoder_mlp_dim": 48}, {"decoder_num_layers": 2}, {"num_codes": 64}]
)
def test_weights_that_do_not_match_the_config(vqgan_preset, tmp_path, config_change):
    directory = copy_preset(vqgan_preset[1], tmp_path)
    with open(os.path.join(directory, "config.json")) as f:
        serialized = json.load(f)
    serialized["config"].update(config_change)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(serialized, f)
    with pytest.raises(ValueError, match="model.weights.h5' does not match the model"):
        VitVQGAN.from_preset(directory)


def test_unknown_name_and_bad_type():
    with pytest.raises(ValueError, match="Unknown VIM preset 'vim_nope'"):
        VIM.from_preset("vim_nope")
    with pytest.raises(TypeError, match="`preset` must be"):
        VIM.from_preset(3)


def test_weights_files_without_the_model_weights(vqgan_preset, tmp_path):
    # Issue 16: an empty list loaded nothing, and the model kept its random weights.
    directory = copy_preset(vqgan_preset[1], tmp_path)
    for files in ([], ["discriminator.weights.h5"]):
        write_metadata(directory, weights_files=files)
        with pytest.raises(ValueError, match="metadata.json lists weights files .*without 'model"):
            VitVQGAN.from_preset(directory)
    write_metadata(directory, weights_files="model.weights.h5")
    with pytest.raises(ValueError, match="metadata.json: `weights_files` must be a list"):
        VitVQGAN.from_preset(directory)
    assert VitVQGAN.from_preset(directory, load_weights=False).built


def write_metadata(directory, **changes):
    path = os.path.join(directory, "metadata.json")
    with open(path) as f:
        metadata = json.load(f)
    with open(path, "w") as f:
        json.dump({**metadata, **changes}, f)


def test_invalid_metadata(vqgan_preset, tmp_path):
    directory = copy_preset(vqgan_preset[1], tmp_path)
    with open(os.path.join(directory, "metadata.json"), "w") as f:
        f.write('{"weights_files": ["model.wei')
    with pytest.raises(ValueError, match="metadata.json is not valid JSON"):
        VitVQGAN.from_preset(directory)


@pytest.mark.parametrize("name", ["config.json", "metadata.json"])
def test_json_that_is_not_an_object(vqgan_preset, tmp_path, name):
    directory = copy_preset(vqgan_preset[1], tmp_path)
    with open(os.path.join(directory, name), "w") as f:
        json.dump(["model.weights.h5"], f)
    with pytest.raises(ValueError, match=rf"{name} must hold a JSON object .*got a JSON array"):
        VitVQGAN.from_preset(directory)


def test_config_without_a_config_object(vqgan_preset, tmp_path):
    directory = copy_preset(vqgan_preset[1], tmp_path)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump({"class_name": "VitVQGAN", "config": [1, 2]}, f)
    with pytest.raises(ValueError, match="config.json must hold a serialized model"):
        VitVQGAN.from_preset(directory)


# --- saving over a directory: refused, or replaced whole, never a mix -----------------------


def micro_vim():
    keras.utils.set_random_seed(4)
    return VIM(**MICRO_VIM)


VIM_PRESET_FILES = {"config.json", "model.weights.h5", "metadata.json", "README.md"}


def test_save_refuses_a_directory_that_is_not_a_preset(tmp_path):
    directory = tmp_path / "mine"
    directory.mkdir()
    (directory / "README.md").write_text("My notes.\n")
    before = snapshot(directory)
    with pytest.raises(FileExistsError, match="files that are not a preset .*README.md.*overwrite"):
        micro_vim().save_to_preset(str(directory))
    assert snapshot(directory) == before
    assert os.listdir(tmp_path) == ["mine"]  # no staging directory left


def test_save_refuses_a_preset_of_another_class_then_overwrites_it_whole(vqgan_preset, tmp_path):
    # Issue 16: a VIM saved over a tokenizer preset left its discriminator.weights.h5 behind.
    directory = copy_preset(vqgan_preset[1], tmp_path)
    before = snapshot(directory)
    model = micro_vim()
    with pytest.raises(FileExistsError, match="holds a VitVQGAN preset, not a VIM preset"):
        model.save_to_preset(directory)
    assert snapshot(directory) == before
    model.save_to_preset(directory, overwrite=True)
    assert set(os.listdir(directory)) == VIM_PRESET_FILES
    assert isinstance(VIM.from_preset(directory), VIM)
    assert sorted(os.listdir(tmp_path)) == ["copy"]


def test_save_replaces_a_preset_of_the_same_class_whole(tmp_path):
    directory = str(tmp_path / "nested" / "vim")  # parents are created
    micro_vim().save_to_preset(directory)
    with open(os.path.join(directory, "stale.weights.h5"), "w") as f:
        f.write("from an earlier save")
    model = micro_vim()
    model.save_to_preset(directory, model_card="Second save.")
    assert set(os.listdir(directory)) == VIM_PRESET_FILES
    with open(os.path.join(directory, "README.md")) as f:
        assert "Second save." in f.read()
    assert os.listdir(tmp_path / "nested") == ["vim"]
    os.makedirs(tmp_path / "empty")
    model.save_to_preset(str(tmp_path / "empty"))  # an empty directory is no one's
    assert set(os.listdir(tmp_path / "empty")) == VIM_PRESET_FILES


@pytest.mark.parametrize(
    "arguments, match",
    [
        (dict(model_card=123), "`model_card` must be a str of Markdown or None; got int 123"),
        (dict(model_card=b"# card"), "`model_card` must be a str .*got bytes"),
        (dict(overwrite="yes"), "`overwrite` must be True or False; got str 'yes'"),
        (dict(overwrite=1), "`overwrite` must be True or False; got int 1"),
    ],
)
def test_save_checks_its_arguments_before_writing(tmp_path, arguments, match):
    # Issue 16: model_card=123 rewrote the preset, left README.md empty, then failed.
    directory = str(tmp_path / "vim")
    micro_vim().save_to_preset(directory)
    before = snapshot(directory)
    with pytest.raises(TypeError, match=match):
        micro_vim().save_to_preset(directory, **arguments)
    assert snapshot(directory) == before
    assert os.listdir(tmp_path) == ["vim"]


def test_save_checks_the_directory_argument(tmp_path):
    with pytest.raises(TypeError, match="`preset_dir` must be a directory path .*got int 3"):
        micro_vim().save_to_preset(3)
    path = tmp_path / "file"
    path.write_text("not a directory")
    with pytest.raises(NotADirectoryError, match="`preset_dir` .*file' is a file"):
        micro_vim().save_to_preset(path, overwrite=True)
    assert path.read_text() == "not a directory"


def test_a_failed_save_leaves_the_earlier_preset(tmp_path, monkeypatch):
    directory = str(tmp_path / "vim")
    micro_vim().save_to_preset(directory)
    before = snapshot(directory)

    def fail(*args, **kwargs):
        raise OSError("disk full")

    # The model card is made last: config.json, the weights and metadata.json are written.
    monkeypatch.setattr(VIM, "_model_card", fail)
    with pytest.raises(OSError, match="disk full"):
        micro_vim().save_to_preset(directory)
    assert snapshot(directory) == before
    assert os.listdir(tmp_path) == ["vim"]


# --- hub handles ----------------------------------------------------------------------------


def test_hugging_face_handle(vqgan_preset, monkeypatch):
    calls = []

    def snapshot_download(repo_id):
        calls.append(repo_id)
        return vqgan_preset[1]

    monkeypatch.setitem(
        sys.modules, "huggingface_hub", types.SimpleNamespace(snapshot_download=snapshot_download)
    )
    model = VitVQGAN.from_preset("hf://keras-vim/micro")
    assert calls == ["keras-vim/micro"]
    images = vqgan_preset[2]
    np.testing.assert_array_equal(
        numpy(model.encode(images)), numpy(vqgan_preset[0].encode(images))
    )


def test_kaggle_handle(vqgan_preset, monkeypatch):
    calls = []

    def model_download(handle):
        calls.append(handle)
        return vqgan_preset[1]

    monkeypatch.setitem(
        sys.modules, "kagglehub", types.SimpleNamespace(model_download=model_download)
    )
    model = VitVQGAN.from_preset("kaggle://keras-vim/vit_vqgan/keras/micro/2")
    assert calls == ["keras-vim/vit_vqgan/keras/micro/2"]
    assert model.num_codes == vqgan_preset[0].num_codes


@pytest.mark.parametrize(
    "handle, package",
    [("hf://owner/name", "huggingface_hub"), ("kaggle://o/m/keras/v", "kagglehub")],
)
def test_hub_handle_without_its_client(monkeypatch, handle, package):
    monkeypatch.setitem(sys.modules, package, None)  # makes the import fail
    with pytest.raises(ImportError, match=f"pip install {package}"):
        VIM.from_preset(handle)


@pytest.mark.parametrize("handle", ["hf://just-a-name", "kaggle://owner/model"])
def test_malformed_hub_handle(handle):
    with pytest.raises(ValueError, match="handle is"):
        VIM.from_preset(handle)
