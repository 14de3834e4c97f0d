import importlib.util
import json
import os

import numpy as np
import pytest

from keras_vim.models import VitVQGAN

RECIPE = os.path.join(os.path.dirname(__file__), "..", "..", "recipes", "train_vit_vqgan.py")


def _load_recipe():
    spec = importlib.util.spec_from_file_location("train_vit_vqgan", RECIPE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_recipe_trains_and_writes_its_artefacts(micro_vqgan_config, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))  # no cached VGG16 here
    recipe = _load_recipe()
    preset = str(tmp_path / "micro")
    VitVQGAN(**dict(micro_vqgan_config, image_size=32)).save_to_preset(preset)
    output = str(tmp_path / "run")
    metrics = recipe.main(
        [
            "--preset",
            preset,
            "--steps",
            "4",
            "--steps-per-epoch",
            "2",
            "--batch-size",
            "8",
            "--discriminator-start",
            "2",
            "--eval-images",
            "32",
            "--output",
            output,
        ]
    )
    for name in ("model.keras", "reconstructions.png", "metrics.json", "history.csv"):
        assert os.path.isfile(os.path.join(output, name)), name
    with open(os.path.join(output, "metrics.json")) as f:
        saved = json.load(f)
    assert saved["steps"] == 4 and saved["test"]["images"] == 32
    assert 0.0 < saved["test"]["codebook_usage"] <= 1.0
    assert np.isfinite(saved["test"]["l2"]) and saved == json.loads(json.dumps(metrics))
    # Without VGG16 weights the perceptual term is skipped, not silently faked.
    assert saved["perceptual_weight"] == 0.0
    restored = VitVQGAN.from_preset(os.path.join(output, "preset"))
    assert restored.image_size == (32, 32) and restored.channels == 1


def test_recipe_help_documents_flags(capsys):
    recipe = _load_recipe()
    with pytest.raises(SystemExit):
        recipe.parse_args(["--help"])
    text = capsys.readouterr().out
    for flag in ("--data", "--preset", "--steps", "--perceptual-weight", "--vgg-weights"):
        assert flag in text
