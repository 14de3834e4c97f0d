"""benchmarks/reproduce/probe_depth.py (study (c)): the priors' configurations, the weights kept
along training, the table, the chart and the flags; a tiny study end to end (`large`)."""

import os
import sys
import types

import numpy as np
import pytest
from PIL import Image

from keras_vim.models import VIM
from keras_vim.utils.plots import COLORS

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from benchmarks.reproduce import probe_depth  # noqa: E402


def test_prior_configs_follow_the_name_and_the_tokenizer():
    tokenizer = types.SimpleNamespace(num_codes=512, grid_size=(8, 8))  # what it reads
    config = probe_depth.prior_config("8x128", tokenizer)
    assert config["num_layers"] == 8 and config["hidden_dim"] == 128
    assert config["num_heads"] == 4 and config["mlp_dim"] == 512
    assert config["num_classes"] is None  # unconditional: the features never see a label
    assert config["vocabulary_size"] == 512 and config["grid_size"] == (8, 8)
    for bad in ("8x100", "8", "x128"):
        with pytest.raises(ValueError, match="LxW"):
            probe_depth.prior_config(bad, tokenizer)


def test_weights_are_kept_at_the_asked_steps(rng):
    prior = VIM(
        vocabulary_size=8, grid_size=(2, 2), num_layers=1, num_heads=1, hidden_dim=8, mlp_dim=8
    )
    prior.compile(optimizer="adam")
    keep = probe_depth.KeepWeights([1, 3])
    tokens = rng.integers(0, 8, (12, 2, 2)).astype("int32")
    prior.fit(tokens, batch_size=3, epochs=1, verbose=0, callbacks=[keep])  # 4 steps
    assert sorted(keep.kept) == [1, 3] and sorted(keep.seconds) == [1, 3]
    first, third = keep.kept[1], keep.kept[3]
    assert any(np.abs(a - b).max() > 0 for a, b in zip(first, third))
    # Copies: the last step's update did not reach the kept weights.
    assert any(np.abs(a - b).max() > 0 for a, b in zip(third, prior.get_weights()))


def _block(test, validation):
    return {"test_accuracy": test, "validation_accuracy": validation}


RECORD = {
    "results": [
        {"name": "raw pixels", "test_accuracy": 0.84, "test_accuracy_std": 0.002},
        {
            "name": "8x128, 2000 of 2000 steps",
            "held_out_bits_per_token": 2.5,
            "blocks": [_block(0.7, 0.71), _block(0.8, 0.79), _block(0.75, 0.76)],
            "best_block": 2,
            "test_accuracy": 0.8,
            "best_block_seeds": {"test_accuracy": 0.801, "test_accuracy_std": 0.004},
        },
        {
            "kind": "random init",
            "name": "4x128 random init (seed 0)",
            "blocks": [_block(0.5, 0.5), _block(0.6, 0.6)],
            "best_block": 2,
            "test_accuracy": 0.6,
        },
    ]
}


def test_table_rows():
    rows = probe_depth.markdown_table(RECORD).splitlines()
    assert rows[2] == "| raw pixels | - | - | - | 84.0 |"
    assert rows[3] == "| 8x128, 2000 of 2000 steps | 2.500 | 70.0 / 80.0 / 75.0 | 2 | 80.1 ± 0.4 |"
    assert rows[4] == "| 4x128 random init (seed 0) | - | 50.0 / 60.0 | 2 | 60.0 |"


def test_seed_summary():
    summary = probe_depth.seeds_summary([{"test_accuracy": 0.8}, {"test_accuracy": 0.9}])
    assert summary["test_accuracy"] == pytest.approx(0.85)
    assert summary["test_accuracy_std"] == pytest.approx(0.05)
    assert len(summary["seeds"]) == 2


def test_chart_draws_the_trained_priors_and_the_controls(tmp_path):
    path = probe_depth.save_chart(RECORD["results"], str(tmp_path / "c.png"))
    image = np.asarray(Image.open(path).convert("RGB"))
    colours = {tuple(int(v) for v in c) for c in image.reshape(-1, 3)}
    # The trained curve in the first colour, the raw-pixel line in the second; the random
    # init is left out of the chart (it would have taken the second, the line the third).
    assert COLORS[0] in colours and COLORS[1] in colours
    assert COLORS[2] not in colours


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--configs", "8x100"], "--configs"),
        (["--steps", "100", "--probe-at", "200"], "--probe-at"),
        (["--l2-grid", "0"], "--l2-grid"),
        (["--test-images", "-1"], "image counts"),
    ],
)
def test_bad_flags(argv, message, capsys):
    with pytest.raises(SystemExit):
        probe_depth.parse_args(argv)
    assert message in capsys.readouterr().err


def test_default_lengths():
    args = probe_depth.parse_args(["--steps", "600"])
    assert args.probe_at == [100, 300, 600]


# ~10 compiled programs (tokenizer, two priors' features, training, evaluation): minutes on a
# busy 2-core CPU per backend.
@pytest.mark.large
def test_a_tiny_study_end_to_end_and_its_resumption(tmp_path):
    argv = ["--configs", "1x32", "--steps", "4", "--probe-at", "2", "4", "--batch-size", "8"]
    argv += ["--train-images", "64", "--probe-train-images", "48", "--test-images", "40"]
    argv += ["--random-seeds", "0", "--probe-seeds", "0", "1", "--l2-grid", "0.1", "1"]
    argv += ["--output", str(tmp_path)]
    record = probe_depth.main(argv)
    names = [r["name"] for r in record["results"]]
    assert names == [
        "raw pixels",
        "reconstructions",
        "bag of codes",
        "1x32 random init (seed 0)",
        "1x32, 2 of 4 steps",
        "1x32, 4 of 4 steps",
    ]
    assert (record["train_images"], record["probe_train_images"], record["test_images"]) == (
        64,
        48,
        40,
    )
    pixels, _, codes, random, early, final = record["results"]
    assert pixels["seeds"][0]["l2"] in (0.1, 1.0) and 0 <= pixels["test_accuracy"] <= 1
    assert len(random["blocks"]) == 1 and "best_block_seeds" not in random
    assert early["steps"] == 2 and final["steps"] == 4 and final["augment"] is False
    assert len(final["best_block_seeds"]["seeds"]) == 2  # the headline row: every probe seed
    assert final["held_out_bits_per_token"] > 0
    assert os.path.exists(tmp_path / "probe_depth.png")
    saved = VIM.from_preset(str(tmp_path / "priors" / "1x32"))  # the trained prior, kept
    assert saved.num_layers == 1 and saved.num_classes is None
    # Run again: every row is there, nothing is measured twice.
    again = probe_depth.main(argv)
    assert [r["name"] for r in again["results"]] == names
    assert again["commands"] == record["commands"] and len(record["commands"]) == 1
    # `--augment`: a prior trained on augmented images tokenized as drawn, added beside.
    augmented = probe_depth.main(argv + ["--augment"])
    rows = augmented["results"][len(names) :]
    assert [r["name"] for r in rows] == ["1x32 +aug, 2 of 4 steps", "1x32 +aug, 4 of 4 steps"]
    assert all(r["augment"] is True for r in rows) and rows[1]["held_out_bits_per_token"] > 0
    assert VIM.from_preset(str(tmp_path / "priors" / "1x32_aug")).num_layers == 1
