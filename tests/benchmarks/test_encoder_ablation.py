"""benchmarks/reproduce/encoder_ablation.py: its models, code counts and chart (no training)."""

import json
import os
import sys

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from benchmarks.reproduce import encoder_ablation  # noqa: E402


@pytest.mark.parametrize("remedies", [False, True])
def test_both_models_share_the_lookup_and_settings(monkeypatch, remedies):
    calls = []
    for model_class, _, _ in encoder_ablation.ARCHITECTURES.values():
        monkeypatch.setattr(
            model_class,
            "from_preset",
            lambda preset, _cls=model_class, **kwargs: calls.append(
                (_cls.__name__, preset, kwargs)
            ),
        )
    for architecture in ("vit", "cnn"):
        encoder_ablation.build_tokenizer(architecture, 32, remedies)
    shared = {"code_dim": 32, "l2_normalize_codes": True, "restart_dead_codes": remedies}
    shared.update(codebook_init_scale=1.0, seed_codebook_from_data=False)  # the paper's codebook
    vit_extra = {} if remedies else {"patch_norm": False}
    assert calls == [
        ("VitVQGAN", "vit_vqgan_tiny", {**shared, **vit_extra}),
        ("CnnVQGAN", "cnn_vqgan_tiny", shared),
    ]
    with pytest.raises(ValueError, match="`architecture`"):
        encoder_ablation.build_tokenizer("resnet", 32)


class _FixedIds:
    num_codes = 6

    def encode(self, images):
        return images.astype("int32")  # the "images" are the ids themselves


def test_code_counts_cover_every_batch():
    ids = np.array([0, 0, 5, 2, 2, 2, 5]).reshape(7, 1, 1)
    counts = encoder_ablation.code_counts(_FixedIds(), ids, batch_size=3)
    np.testing.assert_array_equal(counts, [2, 0, 3, 0, 0, 2])


def test_chart_and_table_from_json(tmp_path, capsys):
    test = {
        "codebook_usage": 0.5,
        "codebook_usage_total": 0.6,
        "dead_codes": 4,
        "perplexity": 9.0,
        "l2": 0.01,
        "psnr": 20.0,
        "frechet_distance": 5.0,
    }
    results = [
        {"architecture": "vit", "parameters": 1_070_000, "test": test, "code_counts": [5, 3, 0, 0]},
        {"architecture": "cnn", "parameters": 1_110_000, "test": test, "code_counts": [8, 0, 0, 0]},
    ]
    with open(tmp_path / "encoder_ablation.json", "w") as f:
        json.dump({"results": results}, f)
    encoder_ablation.main(["--replot", "--output", str(tmp_path)])
    image = np.asarray(Image.open(tmp_path / "encoder_ablation.png").convert("RGB"))
    assert image.shape[0] > 100 and (image < 128).any()
    table = capsys.readouterr().out.splitlines()[-2:]
    # A record without the distinct usage (older runs) shows "-" there.
    assert table[0] == "| vit | 1.07 M | 50.0 (96) | 60.0 | - | 4 | 9.0 | 0.0100 | 20.00 | 5.0 |"
    assert table[1].startswith("| cnn | 1.11 M | 50.0 (63) |")
