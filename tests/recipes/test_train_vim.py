import importlib.util
import json
import os

import numpy as np
import pytest
from PIL import Image

from keras_vim.models import VIM, VitVQGAN

RECIPE = os.path.join(os.path.dirname(__file__), "..", "..", "recipes", "train_vim.py")


def _load_recipe():
    spec = importlib.util.spec_from_file_location("train_vim", RECIPE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TINY = ["--num-layers", "1", "--num-heads", "2", "--hidden-dim", "16", "--mlp-dim", "32"]


def test_recipe_resumes_its_own_run_and_refuses_another(
    micro_vqgan_config, tmp_path, capsys, snapshot, kill_after_first_epoch
):
    recipe = _load_recipe()
    tokenizer = str(tmp_path / "micro")
    VitVQGAN(**dict(micro_vqgan_config, image_size=32)).save_to_preset(tokenizer)
    output = str(tmp_path / "run")
    argv = TINY + [
        "--tokenizer", tokenizer, "--max-train-images", "16", "--validation-images", "8",
        "--steps", "2", "--steps-per-epoch", "1", "--batch-size", "8",
        "--samples-per-class", "1", "--output", output,
    ]  # fmt: skip

    with kill_after_first_epoch(recipe):  # killed once epoch 1 of 2 is checkpointed
        recipe.main(argv)
    killed = snapshot(output)
    assert "checkpoint/run_settings.json" in killed and "model.keras" not in killed
    capsys.readouterr()
    # Another run there (the case: other steps and learning rate) is refused before
    # any work, and so is a bad sampling flag: nothing in the directory changes.
    for other, message in (
        (["--steps", "4", "--learning-rate", "0.05"], "learning_rate: 0.001 there, 0.05 here"),
        (["--temperature", "0"], "argument --temperature: expected a number > 0"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            recipe.main(argv + other)
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
        assert snapshot(output) == killed

    metrics = recipe.main(argv)  # the same command resumes the killed run
    out = capsys.readouterr().out
    assert "loaded 16 tokenized images" in out and "1 of 2 epochs done" in out
    assert metrics["steps"] == 2 and np.isfinite(metrics["final_logs"]["val_bits_per_token"])
    with open(os.path.join(output, "history.csv")) as f:
        assert len(f.read().splitlines()) == 3  # a header and one row per epoch
    # No class dropout in the given flags' prior? vim_tiny has 0.1: guided by default.
    assert metrics["sampling"]["guidance_scale"] == 2.0
    with open(os.path.join(output, "metrics.json")) as f:
        assert json.load(f) == json.loads(json.dumps(metrics))


@pytest.mark.large
def test_recipe_runs_both_stages_and_reuses_only_a_matching_tokenizer(
    micro_vqgan_config, tmp_path, capsys, snapshot, kill_after_first_epoch
):
    recipe = _load_recipe()
    tokenizer_preset = str(tmp_path / "micro")
    VitVQGAN(**dict(micro_vqgan_config, image_size=32)).save_to_preset(tokenizer_preset)
    output = str(tmp_path / "run")
    common = TINY + [
        "--max-train-images", "64", "--validation-images", "32", "--steps", "4",
        "--steps-per-epoch", "2", "--batch-size", "8", "--samples-per-class", "2",
    ]  # fmt: skip
    argv = ["--tokenizer-preset", tokenizer_preset, "--tokenizer-steps", "2", *common]
    argv += ["--output", output]
    with kill_after_first_epoch(recipe):  # stage 1 finishes; the prior is killed mid-way
        recipe.main(argv)
    killed = snapshot(output)
    assert "tokenizer/preset/config.json" in killed and "tokens_train.npz" in killed
    capsys.readouterr()
    # A tokenizer of other settings is not reused: the run is refused, nothing changes.
    with pytest.raises(SystemExit):
        recipe.main(argv[:3] + ["3"] + argv[4:])
    assert "tokenizer_steps: 2 there, 3 here" in capsys.readouterr().err
    assert snapshot(output) == killed

    # The same command reuses the finished tokenizer and the token cache and resumes.
    metrics = recipe.main(argv)
    out = capsys.readouterr().out
    assert f"{os.path.join(output, 'tokenizer')} holds the finished run" in out
    assert "loaded 64 tokenized images" in out and "1 of 2 epochs done" in out
    for name in ("model.keras", "samples.png", "metrics.json", "history.csv", "preset"):
        assert os.path.exists(os.path.join(output, name)), name
    with open(os.path.join(output, "metrics.json")) as f:
        saved = json.load(f)
    assert saved == json.loads(json.dumps(metrics))
    assert saved["steps"] == 4 and saved["train_images"] == 64
    assert saved["tokenizer"]["steps"] == 2
    assert saved["prior"]["config"]["num_classes"] == 10
    assert saved["prior"]["config"]["grid_size"] == [8, 8]
    assert np.isfinite(saved["final_logs"]["val_bits_per_token"])
    assert saved["sample_rows"][0] == "T-shirt/top" and len(saved["sample_rows"]) == 10
    # A row per class, two samples each (32x32 images, 3x enlarged, 2-pixel padding).
    grid = Image.open(os.path.join(output, "samples.png"))
    assert grid.size == (3 * (2 * 34 + 2), 3 * (10 * 34 + 2))
    model = VIM.from_preset(os.path.join(output, "preset"))
    assert model.vocabulary_size == 32 and model.num_classes == 10

    # A given tokenizer, in a new directory: no stage 1.
    tokenizer = os.path.join(output, "tokenizer", "preset")
    recipe.main(["--tokenizer", tokenizer, *common, "--output", str(tmp_path / "run2")])
    assert "stage 1" not in capsys.readouterr().out


def test_recipe_help_documents_flags(capsys):
    recipe = _load_recipe()
    with pytest.raises(SystemExit):
        recipe.parse_args(["--help"])
    text = capsys.readouterr().out
    for flag in (
        "--data",
        "--tokenizer",
        "--steps",
        "--batch-size",
        "--temperature",
        "--top-k",
        "--top-p",
        "--guidance-scale",
        "--output",
        "--seed",
    ):
        assert flag in text
