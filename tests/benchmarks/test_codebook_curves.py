"""benchmarks/reproduce: the codebook probes every tokenizer study records, and their charts
(no training)."""

import os
import sys

import keras
import numpy as np
import pytest
from keras import ops
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
import keras_vim  # noqa: E402
from benchmarks.reproduce import codebook_curves, training  # noqa: E402
from keras_vim.models import VitVQGAN  # noqa: E402


def test_probe_measures_rotation_and_latent_spread(micro_vqgan_config, rng):
    model = VitVQGAN(**micro_vqgan_config)
    model.compile(perceptual_weight=0.0, adversarial_weight=0.0)
    images = rng.random((8, 16, 16, 1)).astype("float32")
    initial = ops.convert_to_numpy(model.quantizer.codebook).copy()
    record = training.probe(model, images, initial)
    assert record["code_rotation_degrees"] == pytest.approx(0.0, abs=0.05)  # float32 arccos
    assert -1.0 <= record["latent_mean_cosine"] <= 1.0
    assert 0 < record["distinct_code_usage"] <= record["codebook_usage"] <= 1
    np.testing.assert_allclose(
        record["code_norm"], np.linalg.norm(initial, axis=-1).mean(), rtol=1e-5
    )
    # Codes turned by 90 degrees: each moved to an orthogonal direction of the 2-D plane.
    turned = initial.copy()
    turned[:, [0, 1]] = np.stack([-initial[:, 1], initial[:, 0]], axis=-1)
    turned[:, 2:] = 0.0
    flat = initial.copy()
    flat[:, 2:] = 0.0
    model.quantizer.codebook.assign(turned)
    record = training.probe(model, images, flat)
    assert record["code_rotation_degrees"] == pytest.approx(90.0, abs=0.05)


def test_gradient_norms_are_those_of_the_trainers_step(micro_vqgan_config, rng):
    # No restarts: they would move codes after the update.
    model = VitVQGAN(**{**micro_vqgan_config, "restart_dead_codes": False})
    learning_rate = 0.1
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate),
        perceptual_weight=0.0,
        adversarial_weight=0.0,
    )
    images = rng.random((8, 16, 16, 1)).astype("float32")
    norms = training.gradient_norms(model, images, {})
    if keras.backend.backend() != "jax":
        assert norms == {}  # the probe differentiates with jax.grad only
        return
    groups = {
        "gradient_norm_codebook": [model.quantizer.codebook],
        "gradient_norm_encoder": model.encoder.trainable_variables,
    }
    before = {k: [ops.convert_to_numpy(v).copy() for v in vs] for k, vs in groups.items()}
    # One plain SGD step of the trainer moves each weight by learning_rate x its gradient.
    model.train_on_batch(images)
    for name, variables in groups.items():
        moved = [b - ops.convert_to_numpy(v) for b, v in zip(before[name], variables)]
        applied = np.sqrt(sum(np.sum(np.square(m)) for m in moved)) / learning_rate
        assert applied > 0
        np.testing.assert_allclose(norms[name], applied, rtol=1e-3)


def test_curve_charts_tile_one_panel_per_measure_and_skip_missing_ones(tmp_path):
    measures = codebook_curves.CURVE_MEASURES
    curve = [{"step": s, **{m: float(s) for m in measures}} for s in (0, 10)]
    results = [{"name": "a", "curve": curve}, {"name": "b", "curve": curve}]
    path = codebook_curves.save_chart(results, str(tmp_path / "curves.png"))
    panel = keras_vim.utils.save_line_plot(str(tmp_path / "panel.png"), [0, 1], {"a": [0, 1]})
    width, height = Image.open(panel).size
    assert Image.open(path).size == (3 * width, 3 * height)  # 9 measures, 3 columns
    os.remove(panel)
    assert sorted(os.listdir(tmp_path)) == ["curves.png"]  # the panel files are removed
    # Off JAX the gradient norms are not recorded: their two panels are left out, and the
    # other 7 tile into 2 rows of 4.
    lean = [{k: v for k, v in r.items() if not k.startswith("gradient")} for r in curve]
    path = training.save_curves_chart({"a": lean}, str(tmp_path / "lean.png"), columns=4)
    assert Image.open(path).size == (4 * width, 2 * height)


def test_train_tokenizer_refuses_probes_that_do_not_divide_the_steps():
    with pytest.raises(ValueError, match="probe_every"):
        training.train_tokenizer(lambda: None, None, 10, 1e-3, 0, probe_every=3)
