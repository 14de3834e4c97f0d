import importlib.util
import json
import os

import numpy as np
import pytest

from keras_vim.models import VitVQGAN
from keras_vim.pipelines import tokenizer_training

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

    # Killed once epoch 1 of 2 is checkpointed (the recipe runs the library's stage 1).
    with kill_after_first_epoch(tokenizer_training):
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


def test_without_the_adversarial_phase_no_gan_metrics_are_logged(
    micro_vqgan_config, tmp_path, capsys
):
    # The main job's stage 1: --discriminator-start equal to --steps, so the GAN phase never
    # starts; its terms would be zeros in every progress line.
    recipe = _load_recipe()
    preset = str(tmp_path / "micro")
    VitVQGAN(**dict(micro_vqgan_config, image_size=32)).save_to_preset(preset)
    output = str(tmp_path / "run")
    argv = ["--preset", preset, "--steps", "2", "--steps-per-epoch", "1", "--batch-size", "8"]
    argv += ["--discriminator-start", "2", "--eval-images", "16", "--perceptual-weight", "0"]
    metrics = recipe.main(argv + ["--output", output])
    out = capsys.readouterr().out
    assert "no adversarial phase: the GAN losses would start at step 2" in out
    gan_terms = ("discriminator", "adversarial", "r1")
    progress = [line for line in out.splitlines() if "loss:" in line]
    assert len(progress) == 2 and not any(term in line for line in progress for term in gan_terms)
    with open(os.path.join(output, "history.csv")) as f:
        columns = f.readline().strip().split(",")
    assert {"loss", "l2", "vq", "codebook_usage"} <= set(columns)
    assert not [c for c in columns if any(term in c for term in gan_terms)], columns
    # (CSVLogger adds empty val_ columns when there is no validation.)
    assert set(metrics["final_train_logs"]) == {c for c in columns[1:] if c[:4] != "val_"}
    assert (metrics["adversarial_weight"], metrics["discriminator_start"]) == (0.0, 2)
    # After the first of the two epochs: how long the other one takes at that pace.
    assert "time estimate: ~" in out and "(1 more epoch at epoch 1's" in out
    # The tokenizer loads back and round-trips.
    restored = VitVQGAN.from_preset(os.path.join(output, "preset"))
    assert restored.decode(restored.encode(np.zeros((1, 32, 32, 1), "float32"))).shape == (
        1,
        32,
        32,
        1,
    )
