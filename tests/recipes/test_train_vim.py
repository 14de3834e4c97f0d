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


@pytest.mark.large
def test_recipe_runs_end_to_end_and_reuses_the_token_cache(micro_vqgan_config, tmp_path, capsys):
    recipe = _load_recipe()
    tokenizer_preset = str(tmp_path / "micro")
    VitVQGAN(**dict(micro_vqgan_config, image_size=32)).save_to_preset(tokenizer_preset)
    output = str(tmp_path / "run")
    tiny = ["--num-layers", "1", "--num-heads", "2", "--hidden-dim", "16", "--mlp-dim", "32"]
    common = tiny + [
        "--max-train-images", "64", "--validation-images", "32", "--steps", "4",
        "--steps-per-epoch", "2", "--batch-size", "8", "--samples-per-class", "2",
        "--output", output,
    ]  # fmt: skip
    metrics = recipe.main(
        ["--tokenizer-preset", tokenizer_preset, "--tokenizer-steps", "2", *common]
    )
    for name in ("model.keras", "samples.png", "metrics.json", "history.csv", "preset"):
        assert os.path.exists(os.path.join(output, name)), name
    with open(os.path.join(output, "metrics.json")) as f:
        saved = json.load(f)
    assert saved == json.loads(json.dumps(metrics))
    assert saved["steps"] == 4 and saved["train_images"] == 64
    assert saved["prior"]["config"]["num_classes"] == 10
    assert saved["prior"]["config"]["grid_size"] == [8, 8]
    assert np.isfinite(saved["final_logs"]["val_bits_per_token"])
    assert saved["sample_rows"][0] == "T-shirt/top" and len(saved["sample_rows"]) == 10
    # A row per class, two samples each (32x32 images, 3x enlarged, 2-pixel padding).
    grid = Image.open(os.path.join(output, "samples.png"))
    assert grid.size == (3 * (2 * 34 + 2), 3 * (10 * 34 + 2))
    model = VIM.from_preset(os.path.join(output, "preset"))
    assert model.vocabulary_size == 32 and model.num_classes == 10
    capsys.readouterr()

    # A given tokenizer: the cached tokens of the first run are reused.
    recipe.main(["--tokenizer", os.path.join(output, "tokenizer", "preset"), *common])
    out = capsys.readouterr().out
    assert "loaded 64 tokenized images" in out and "stage 1" not in out


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
