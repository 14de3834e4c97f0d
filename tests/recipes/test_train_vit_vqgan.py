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


def test_recipe_trains_resumes_and_keeps_its_run_directory_to_itself(
    micro_vqgan_config, tmp_path, monkeypatch, capsys, snapshot, kill_after_first_epoch
):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))  # no cached VGG16 here
    recipe = _load_recipe()
    preset = str(tmp_path / "micro")
    VitVQGAN(**dict(micro_vqgan_config, image_size=32)).save_to_preset(preset)
    output = str(tmp_path / "run")
    argv = ["--preset", preset, "--steps", "4", "--steps-per-epoch", "2", "--batch-size", "8"]
    argv += ["--discriminator-start", "2", "--eval-images", "32", "--output", output]

    with kill_after_first_epoch(recipe):  # killed once epoch 1 of 2 is checkpointed
        recipe.main(argv)
    killed = snapshot(output)
    assert "checkpoint/run_settings.json" in killed and "metrics.json" not in killed
    # Another run in that directory is refused before any work: the checkpoint is not
    # resumed for it and nothing there changes.
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        recipe.main(argv[:3] + ["2"] + argv[4:])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "argument --output:" in error and "steps: 4 there, 2 here" in error
    assert f"pass a new --output, or delete {output}" in error
    assert snapshot(output) == killed

    metrics = recipe.main(argv)  # the same command resumes the killed run
    assert "Resuming from the checkpoint" in capsys.readouterr().out
    for name in ("model.keras", "reconstructions.png", "metrics.json", "history.csv", "run.json"):
        assert os.path.isfile(os.path.join(output, name)), name
    assert not os.path.exists(os.path.join(output, "checkpoint"))
    with open(os.path.join(output, "metrics.json")) as f:
        saved = json.load(f)
    assert saved["steps"] == 4 and saved["test"]["images"] == 32
    assert 0.0 < saved["test"]["codebook_usage"] <= 1.0
    assert np.isfinite(saved["test"]["l2"]) and saved == json.loads(json.dumps(metrics))
    with open(os.path.join(output, "history.csv")) as f:
        assert len(f.read().splitlines()) == 3  # a header and one row per epoch
    # Without VGG16 weights the perceptual term is skipped, not silently faked.
    assert saved["perceptual_weight"] == 0.0
    restored = VitVQGAN.from_preset(os.path.join(output, "preset"))
    assert restored.image_size == (32, 32) and restored.channels == 1

    # Finished: the same command reuses the results, another is refused; nothing changes.
    finished = snapshot(output)
    assert recipe.main(argv) == saved
    assert "holds the finished run of these settings" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        recipe.main(argv + ["--learning-rate", "0.05"])
    assert "learning_rate: 0.001 there, 0.05 here" in capsys.readouterr().err
    assert snapshot(output) == finished


def test_recipe_help_documents_flags(capsys):
    recipe = _load_recipe()
    with pytest.raises(SystemExit):
        recipe.parse_args(["--help"])
    text = capsys.readouterr().out
    for flag in ("--data", "--preset", "--steps", "--perceptual-weight", "--vgg-weights"):
        assert flag in text
