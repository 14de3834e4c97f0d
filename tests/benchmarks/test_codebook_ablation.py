"""benchmarks/reproduce/codebook_ablation.py: its configurations, models and chart (no training)."""

import json
import os
import sys

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
import keras_vim  # noqa: E402
from benchmarks.reproduce import codebook_ablation  # noqa: E402


def test_study_configs_are_the_papers_five_lookups():
    configs = codebook_ablation.study_configs()
    assert [(c["code_dim"], c["l2_normalize_codes"]) for c in configs] == [
        (256, True),
        (64, True),
        (32, True),
        (8, True),
        (32, False),
    ]
    assert len({c["name"] for c in configs}) == 5
    assert [c["name"] for c in codebook_ablation.study_configs([16], no_l2_dim=0)] == ["dim16_l2"]
    with pytest.raises(ValueError, match="code_dims"):
        codebook_ablation.study_configs([0])


def test_build_tokenizer_varies_only_the_lookup(monkeypatch):
    # The preset's arguments are checked without building the model (slow under JAX on CPU).
    calls = []
    monkeypatch.setattr(
        codebook_ablation.VitVQGAN,
        "from_preset",
        lambda preset, **kwargs: calls.append((preset, kwargs)) or "model",
    )
    config = {"name": "dim8_no_l2", "code_dim": 8, "l2_normalize_codes": False}
    assert codebook_ablation.build_tokenizer(config) == "model"
    # The paper's setting: none of the repo's extra usage remedies.
    paper = {
        "code_dim": 8,
        "l2_normalize_codes": False,
        "patch_norm": False,
        "restart_dead_codes": False,
        "codebook_init_scale": 1.0,
    }
    assert calls == [("vit_vqgan_tiny", paper)]
    # One change to it, as the flags ask.
    codebook_ablation.build_tokenizer(config, {"codebook_init_scale": 0.01})
    assert calls[1] == ("vit_vqgan_tiny", {**paper, "codebook_init_scale": 0.01})


@pytest.mark.parametrize(
    "flags, changes, suffix",
    [
        ([], {}, ""),
        (["--codebook-init-scale", "0.01"], {"codebook_init_scale": 0.01}, "_init0.01"),
        (
            ["--restarts", "--patch-norm"],
            {"restart_dead_codes": True, "patch_norm": True},
            "_restarts_patchnorm",
        ),
    ],
)
def test_flags_name_their_change_to_the_paper_setting(flags, changes, suffix):
    args = codebook_ablation.parse_args(flags)
    assert (args.steps, args.batch_size, args.learning_rate) == (2000, 8, 1e-4)
    assert codebook_ablation.setting_changes(args) == (changes, suffix)


@pytest.mark.parametrize(
    "flags",
    [
        ["--steps", "2000", "--probe-every", "300"],
        ["--probe-every", "0"],
        ["--codebook-init-scale", "0"],
    ],
)
def test_bad_flags_are_refused(flags, capsys):
    with pytest.raises(SystemExit):
        codebook_ablation.parse_args(flags)
    assert "--" in capsys.readouterr().err


TEST = {
    "codebook_usage_total": 0.9,
    "dead_codes": 3,
    "perplexity": 100.0,
    "l2": 0.01,
    "psnr": 20.0,
    "frechet_distance": 5.0,
}


def test_chart_table_and_replot_from_json(tmp_path, capsys):
    curve = [
        {"step": s, "codebook_usage": 0.5, "distinct_code_usage": 0.4, "perplexity": 9.0}
        for s in (0, 100)
    ]
    results = [
        {
            "name": n,
            "code_dim": d,
            "l2_normalize_codes": l2,
            "test": dict(TEST, codebook_usage=u, distinct_code_usage=u / 2),
            "curve": curve,
        }
        for n, d, l2, u in [
            ("dim256_l2", 256, True, 0.1),
            ("dim64_l2", 64, True, 0.2),
            ("dim32_l2", 32, True, 0.5),
            ("dim8_l2", 8, True, 0.6),
            ("dim32_no_l2", 32, False, 0.05),
        ]
    ]

    with open(tmp_path / "codebook_ablation.json", "w") as f:
        json.dump({"results": results}, f)
    record = codebook_ablation.main(["--replot", "--output", str(tmp_path)])
    assert record["results"] == results
    image = np.asarray(Image.open(tmp_path / "codebook_ablation.png").convert("RGB"))
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    # Something besides the white background was drawn.
    assert (image < 128).any()
    # The curves: one panel per measure (usage, distinct usage, perplexity) in one row.
    panel = keras_vim.utils.save_line_plot(str(tmp_path / "panel.png"), [0, 1], {"a": [0, 1]})
    width, height = Image.open(panel).size
    assert Image.open(tmp_path / "codebook_ablation_curves.png").size == (3 * width, height)
    table = capsys.readouterr().out.splitlines()[-5:]
    assert table[0].startswith("| dim 256, l2-norm | 10.0 (4) | 90.0 | 5.0 | 3 |")
    assert table[3].startswith("| dim 8, l2-norm | 60.0 (96) | 90.0 | 30.0 |")
    assert table[4].startswith("| dim 32, no l2-norm | 5.0 (2) | 90.0 | 2.5 |")
    # Without l2-normalized runs there is no line to draw.
    assert codebook_ablation.save_chart(results[4:], str(tmp_path / "none.png")) is None
