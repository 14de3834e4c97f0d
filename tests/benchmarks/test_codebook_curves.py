"""benchmarks/reproduce/codebook_curves.py: its probe and chart (no training)."""

import os
import sys

import numpy as np
import pytest
from keras import ops
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from benchmarks.reproduce import codebook_curves  # noqa: E402
from keras_vim.models import VitVQGAN  # noqa: E402


def test_probe_measures_rotation_and_latent_spread(micro_vqgan_config, rng):
    model = VitVQGAN(**micro_vqgan_config)
    images = rng.random((8, 16, 16, 1)).astype("float32")
    initial = ops.convert_to_numpy(model.quantizer.codebook).copy()
    record = codebook_curves.probe(model, images, initial)
    assert record["code_rotation_degrees"] == pytest.approx(0.0, abs=0.05)  # float32 arccos
    assert -1.0 <= record["latent_mean_cosine"] <= 1.0
    assert 0 < record["distinct_code_usage"] <= record["codebook_usage"] <= 1
    # Codes turned by 90 degrees: each moved to an orthogonal direction of the 2-D plane.
    turned = initial.copy()
    turned[:, [0, 1]] = np.stack([-initial[:, 1], initial[:, 0]], axis=-1)
    turned[:, 2:] = 0.0
    flat = initial.copy()
    flat[:, 2:] = 0.0
    model.quantizer.codebook.assign(turned)
    record = codebook_curves.probe(model, images, flat)
    assert record["code_rotation_degrees"] == pytest.approx(90.0, abs=0.05)


def test_chart_has_one_panel_per_measure(tmp_path):
    curve = [{"step": s, **{m: float(s) for m in codebook_curves.MEASURES}} for s in (0, 10)]
    results = [{"name": "a", "curve": curve}, {"name": "b", "curve": curve}]
    path = codebook_curves.save_chart(results, str(tmp_path / "curves.png"))
    width, height = Image.open(path).size
    assert width > height > 0
    assert sorted(os.listdir(tmp_path)) == ["curves.png"]  # the panel files are removed
