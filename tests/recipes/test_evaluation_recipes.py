"""recipes/linear_probe.py and recipes/evaluate.py end to end on micro models (random weights)."""

import json
import os
import sys

import numpy as np
import pytest
from PIL import Image

from keras_vim.metrics import read_classifier_record
from keras_vim.models import VIM, VitVQGAN

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "recipes"))
import evaluate  # noqa: E402
import linear_probe  # noqa: E402

# A micro tokenizer for the default data's 32x32x1 images: a 4x4 grid of 16 codes.
MICRO_TOKENIZER = dict(
    image_size=32,
    channels=1,
    patch_size=8,
    encoder_hidden_dim=16,
    encoder_num_layers=1,
    encoder_num_heads=2,
    encoder_mlp_dim=32,
    decoder_hidden_dim=16,
    decoder_num_layers=1,
    decoder_num_heads=2,
    decoder_mlp_dim=32,
    num_codes=16,
    code_dim=4,
    discriminator_filters=4,
    discriminator_max_filters=8,
)


@pytest.fixture(scope="module")
def presets(tmp_path_factory):
    directory = tmp_path_factory.mktemp("presets")
    tokenizer = os.path.join(directory, "tokenizer")
    prior = os.path.join(directory, "prior")
    VitVQGAN(**MICRO_TOKENIZER).save_to_preset(tokenizer)
    VIM(
        vocabulary_size=16,
        grid_size=4,
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        mlp_dim=32,
        num_classes=10,
        dropout=0.0,
        class_dropout=0.1,
    ).save_to_preset(prior)
    return tokenizer, prior


@pytest.mark.large  # tokenizes 500 images, fits four probes (~50 s on a busy 2-core CPU)
def test_linear_probe_recipe(presets, tmp_path):
    tokenizer, prior = presets
    output = str(tmp_path / "probe")
    argv = ["--tokenizer", tokenizer, "--prior", prior, "--output", output]
    argv += ["--max-train-images", "300", "--max-test-images", "200", "--blocks", "all"]
    argv += ["--l2-grid", "1e-3,1e-1", "--max-iterations", "200", "--batch-size", "32"]
    report = linear_probe.main(argv)
    with open(os.path.join(output, "probe.json")) as f:
        assert json.load(f) == json.loads(json.dumps(report))
    assert set(report["blocks"]) == {"1", "2"} and report["prior_blocks"] == 2
    assert (report["train_images"], report["test_images"]) == (300, 200)
    for result in report["blocks"].values():
        assert 0 <= result["test_accuracy"] <= 1 and result["feature_dim"] == 16
        assert result["l2"] in (1e-3, 1e-1) and len(result["l2_grid"]) == 2
        assert abs(result["validation_examples"] - 30) <= 5 and result["train_examples"] == 300
    # The best block is the one with the best validation accuracy (the first of ties), not
    # the best test accuracy.
    blocks = [report["blocks"][str(b)] for b in (1, 2)]
    best = max(range(2), key=lambda i: blocks[i]["validation_accuracy"])
    assert report["best_block"] == best + 1
    assert report["best_test_accuracy"] == blocks[best]["test_accuracy"]
    # Raw pixels of Fashion-MNIST are far better than chance (0.1) for a linear classifier:
    # images and labels stay paired through the recipe.
    baseline = report["pixel_baseline"]
    assert baseline["feature_dim"] == 32 * 32 and baseline["test_accuracy"] > 0.5
    # The bag of codes: one histogram bin per code of the tokenizer, the same protocol.
    bag_of_codes = report["bag_of_codes_baseline"]
    assert bag_of_codes["feature_dim"] == 16 and 0 <= bag_of_codes["test_accuracy"] <= 1
    # The tokenizer's reconstructions as pixels (what the prior can see at best).
    reconstructions = report["reconstruction_baseline"]
    assert reconstructions["feature_dim"] == 32 * 32
    assert reconstructions["train_examples"] == 300 and 0 <= reconstructions["test_accuracy"] <= 1
    assert report["feature_seconds"] >= 0
    assert report["settings"]["l2_grid"] == [1e-3, 1e-1]
    assert Image.open(os.path.join(output, "probe_curve.png")).size == (640, 400)
    # The token ids are cached and reused.
    assert os.path.exists(os.path.join(output, "tokens_train.npz"))
    # Checked against the prior's depth before any work.
    with pytest.raises(SystemExit):
        linear_probe.main(argv[:-8] + ["--blocks", "3"])


def test_evaluate_recipe(presets, tmp_path, capsys, snapshot):
    tokenizer, prior = presets
    output = str(tmp_path / "evaluate")
    argv = ["--tokenizer", tokenizer, "--prior", prior, "--output", output, "--max-images", "64"]
    argv += ["--samples-per-class", "2", "--acceptance-rates", "1,0.5", "--batch-size", "20"]
    report = evaluate.main(argv)
    with open(os.path.join(output, "evaluation.json")) as f:
        assert json.load(f) == json.loads(json.dumps(report))

    stats = report["tokenizer"]
    assert stats["images"] == 64 and stats["num_codes"] == 16
    assert 0 <= stats["l2"] <= 1 and -1 <= stats["ssim"] <= 1 and stats["psnr"] > 0
    assert stats["domain_frechet_distance"] > 0
    counts = np.array(stats["code_counts_sorted"])
    assert counts.sum() == 64 * 16 and np.all(np.diff(counts) <= 0)
    assert stats["dead_codes"] == np.sum(counts == 0)

    # The classifier on real test images: close to its recorded accuracy.
    reference = report["reference"]
    recorded = read_classifier_record()["test_accuracy"]
    assert abs(reference["test_class_accuracy"] - recorded) < 0.15
    assert reference["domain_frechet_distance"] > 0

    rates = report["prior"]["rates"]
    assert set(rates) == {"1", "0.5"}
    assert (rates["1"]["candidates"], rates["0.5"]["candidates"]) == (20, 40)
    assert (rates["1"]["acceptance_rate"], rates["0.5"]["acceptance_rate"]) == (1.0, 0.5)
    for entry in rates.values():
        assert entry["samples"] == 20 and 0 <= entry["class_accuracy"] <= 1
        assert 1 <= entry["domain_inception_score"] <= 10 and entry["domain_frechet_distance"] > 0
    # Without rejection every candidate is kept; with it, the best half.
    assert rates["1"]["mean_classifier_score"] == pytest.approx(rates["1"]["mean_candidate_score"])
    assert rates["0.5"]["mean_classifier_score"] > rates["0.5"]["mean_candidate_score"]

    # Figures: 16 test images over their reconstructions; 10 rows (classes) of 2 samples.
    assert Image.open(os.path.join(output, "reconstructions.png")).size == (
        (16 * 34 + 2) * 3,
        (2 * 34 + 2) * 3,
    )
    assert Image.open(os.path.join(output, "samples_rate_0.5.png")).size == (
        (2 * 34 + 2) * 3,
        (10 * 34 + 2) * 3,
    )
    assert Image.open(os.path.join(output, "code_usage.png")).size == (640, 400)

    # The directory holds this evaluation only: the same command reuses it, another (which
    # would leave samples_rate_0.5.png beside its own figures) is refused; nothing changes.
    finished = snapshot(output)
    assert not any(name.startswith(".staging") for name in finished)
    capsys.readouterr()
    assert evaluate.main(argv) == json.loads(json.dumps(report))
    assert "holds the finished run of these settings" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main(argv[:-3] + ["1,0.25", "--batch-size", "20"])
    assert exit_info.value.code == 2
    assert "acceptance_rates: [1.0, 0.5] there, [1.0, 0.25] here" in capsys.readouterr().err
    assert snapshot(output) == finished
