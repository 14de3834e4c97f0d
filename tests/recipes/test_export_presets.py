import json
import os

import keras
import numpy as np

from keras_vim.models import VIM, VitVQGAN
from keras_vim.presets import score_prior

PRIOR = dict(num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=32, class_dropout=0.1)


def _run_directory(path, prior):
    """What `export_presets.py` reads of a `train_vim.py` run: the prior and metrics.json."""
    os.makedirs(path)
    prior.save(os.path.join(path, "model.keras"))
    config = prior.get_config()
    metrics = {
        "backend": keras.backend.backend(),
        "tokenizer": {"source": "given"},
        "prior": {"parameters": prior.count_params(), "config": config},
        "train_images": 64,
        "steps": 4,
        "batch_size": 8,
        "learning_rate": 3e-3,
        "train_seconds": 1.0,
        "final_logs": {"val_bits_per_token": 4.5, "val_accuracy": 0.1},
    }
    with open(os.path.join(path, "metrics.json"), "w") as f:
        json.dump(metrics, f)


def test_prior_alone_is_exported_over_a_given_tokenizer(load_recipe, micro_vqgan_config, tmp_path):
    recipe = load_recipe("export_presets")
    tokenizer_dir = str(tmp_path / "tokenizer")
    tokenizer = VitVQGAN(**dict(micro_vqgan_config, image_size=32))
    tokenizer.save_to_preset(tokenizer_dir)
    prior = VIM(
        vocabulary_size=tokenizer.num_codes,
        grid_size=tokenizer.grid_size,
        num_classes=10,
        seed=0,
        **PRIOR,
    )
    run = str(tmp_path / "run")
    _run_directory(run, prior)
    output = str(tmp_path / "presets")

    recipe.main(["--run", run, "--output", output, "--tokenizer", tokenizer_dir])

    assert os.listdir(output) == [recipe.PRIOR_NAME]  # the tokenizer is left as it is
    exported = os.path.join(output, recipe.PRIOR_NAME)
    with open(os.path.join(exported, "scores.json")) as f:
        scores = json.load(f)
    expected = score_prior(prior, VitVQGAN.from_preset(tokenizer_dir))
    np.testing.assert_allclose(scores["bits_per_token"], expected["bits_per_token"], rtol=1e-5)
    with open(os.path.join(exported, "README.md")) as f:
        card = f.read()
    assert f"{scores['bits_per_token']:.3f} bits per token" in card
    assert f"train_vim.py --tokenizer {tokenizer_dir} --steps 4" in card
    tokens = np.random.default_rng(0).integers(0, tokenizer.num_codes, (2, 64)).astype("int32")
    inputs = {"tokens": tokens, "class_ids": np.array([1, 2], "int32")}
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(VIM.from_preset(exported)(inputs)),
        keras.ops.convert_to_numpy(prior(inputs)),
        atol=1e-6,
    )
