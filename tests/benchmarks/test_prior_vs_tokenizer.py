"""benchmarks/reproduce/prior_vs_tokenizer.py: choosing study (a)'s tokenizers, the table and
the sample sheet (no training)."""

import os
import sys

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from benchmarks.reproduce import prior_vs_tokenizer  # noqa: E402


def _result(name, dim, l2, fd):
    test = {"frechet_distance": fd, "codebook_usage": 0.01 * dim}
    return {"name": name, "code_dim": dim, "l2_normalize_codes": l2, "test": test}


ABLATION = {
    "results": [
        _result("dim256_l2", 256, True, 80.0),
        _result("dim8_l2", 8, True, 20.0),
        _result("dim32_no_l2", 32, False, 95.0),
    ]
}


def test_best_and_worst_by_reconstruction_fd_or_by_name():
    configs = prior_vs_tokenizer.pick_configs(ABLATION)
    assert [(c["name"], c["code_dim"], c["l2_normalize_codes"]) for c in configs] == [
        ("dim8_l2", 8, True),
        ("dim32_no_l2", 32, False),
    ]
    assert configs[0]["study_a_test"]["frechet_distance"] == 20.0
    named = prior_vs_tokenizer.pick_configs(ABLATION, ["dim256_l2"])
    assert [c["name"] for c in named] == ["dim256_l2"]
    with pytest.raises(ValueError, match=r"\['dim64_l2'\] are not among"):
        prior_vs_tokenizer.pick_configs(ABLATION, ["dim64_l2"])


def test_table_and_sample_sheet(tmp_path):
    record = {
        "results": [
            {
                "name": "dim8_l2",
                "retrained_tokenizer_test": {"frechet_distance": 21.0, "codebook_usage": 0.25},
                "samples": {"domain_frechet_distance": 30.5, "class_accuracy": 0.75},
                "held_out_bits_per_token": 3.5,
            }
        ]
    }
    assert prior_vs_tokenizer.markdown_table(record).splitlines()[-1] == (
        "| dim8_l2 | 21.0 | 25.0 | 30.5 | 75.0 | 3.50 |"
    )
    samples = {
        "a": np.zeros((20, 32, 32, 1), "float32"),
        "b": np.ones((20, 32, 32, 1), "float32"),
    }
    path = prior_vs_tokenizer.save_samples(samples, str(tmp_path / "s.png"), per_class=2)
    sheet = np.asarray(Image.open(path).convert("L"))
    # 2 tokenizers x 10 classes rows of 2 images: the top half dark, the bottom half light.
    assert (
        sheet[: sheet.shape[0] // 2 - 8].mean() < 64 < 192 < sheet[sheet.shape[0] // 2 + 8 :].mean()
    )
