"""The trained presets shipped in the package load offline and score what their cards say."""

import json
import os

import numpy as np
import pytest

from keras_vim.models import VIM, VitVQGAN
from keras_vim.models.preset_mixin import PACKAGED_PRESETS_DIR
from keras_vim.presets import score_prior, score_tokenizer

TOKENIZER = "vit_vqgan_tiny_fashion_mnist"
PRIOR = "vim_tiny_fashion_mnist"


def card_scores(name):
    with open(os.path.join(PACKAGED_PRESETS_DIR, name, "scores.json")) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def tokenizer():
    return VitVQGAN.from_preset(TOKENIZER)


@pytest.fixture(scope="module")
def prior():
    return VIM.from_preset(PRIOR)


@pytest.fixture(scope="module")
def prior_scores(prior, tokenizer):
    # Scored once for the two tests that read them (each scoring runs the prior over 1000
    # tokenized images).
    return score_prior(prior, tokenizer)


@pytest.mark.parametrize("model_class", [VitVQGAN, VIM])
def test_every_packaged_preset_is_listed_and_present(model_class):
    packaged = {
        name: entry["directory"]
        for name, entry in model_class.builtin_presets.items()
        if "directory" in entry
    }
    assert packaged, f"{model_class.__name__} ships no trained preset"
    for name, directory in packaged.items():
        files = set(os.listdir(os.path.join(PACKAGED_PRESETS_DIR, directory)))
        assert {"config.json", "model.weights.h5", "metadata.json", "README.md"} <= files
        assert "trained" in model_class.presets()[name]


def test_tokenizer_scores_what_its_card_says(tokenizer):
    expected = card_scores(TOKENIZER)
    scores = score_tokenizer(tokenizer)
    assert scores["data"] == expected["data"]
    for key in ("l1", "l2", "psnr", "ssim"):
        np.testing.assert_allclose(scores[key], expected[key], rtol=2e-3, err_msg=key)
    # Ids of near-tied codes may flip between backends: allow a few codes of difference.
    assert abs(scores["codebook_usage"] - expected["codebook_usage"]) < 0.01
    assert abs(scores["dead_codes"] - expected["dead_codes"]) <= 3
    with open(os.path.join(PACKAGED_PRESETS_DIR, TOKENIZER, "README.md")) as f:
        assert f"PSNR {expected['psnr']:.2f} dB" in f.read()


def test_prior_scores_what_its_card_says(tokenizer, prior, prior_scores):
    expected = card_scores(PRIOR)
    assert prior.vocabulary_size == tokenizer.num_codes
    assert tuple(prior.grid_size) == tuple(tokenizer.grid_size)
    scores = prior_scores
    assert scores["tokens"] == 1000 * 64
    np.testing.assert_allclose(scores["bits_per_token"], expected["bits_per_token"], rtol=2e-3)
    np.testing.assert_allclose(scores["accuracy"], expected["accuracy"], atol=2e-3)
    with open(os.path.join(PACKAGED_PRESETS_DIR, PRIOR, "README.md")) as f:
        assert f"{expected['bits_per_token']:.3f} bits per token" in f.read()


def test_trained_prior_beats_an_untrained_one(tokenizer, prior_scores):
    trained = prior_scores
    untrained = score_prior(VIM.from_preset(PRIOR, load_weights=False), tokenizer)
    # An untrained prior is close to uniform: log2(512) = 9 bits per token.
    assert untrained["bits_per_token"] > 8.5
    assert trained["bits_per_token"] < untrained["bits_per_token"] - 3
