import keras
import numpy as np
import pytest
from keras import ops

from keras_vim.models import VitVQGAN
from keras_vim.training import GANOptimizer, vit_vqgan_optimizer


def _values(variables):
    return [ops.convert_to_numpy(v).copy() for v in variables]


def _changed(before, variables):
    return [not np.array_equal(b, ops.convert_to_numpy(v)) for b, v in zip(before, variables)]


def _compile(model, g_lr=1e-3, d_lr=1e-3, **kwargs):
    kwargs.setdefault("perceptual_weight", 0.0)
    model.compile(
        optimizer=keras.optimizers.Adam(g_lr),
        discriminator_optimizer=keras.optimizers.Adam(d_lr),
        **kwargs,
    )


@pytest.fixture
def images(rng):
    return rng.random((8, 16, 16, 1)).astype("float32")


def _generator_variables(model):
    return (
        model.encoder.trainable_variables
        + model.quantizer.trainable_variables
        + (model.decoder.trainable_variables)
    )


def test_one_epoch_changes_both_networks_and_logs_every_term(micro_vqgan_config, images):
    model = VitVQGAN(**micro_vqgan_config)
    _compile(model, r1_weight=1.0)
    generator, discriminator = _generator_variables(model), model.discriminator.trainable_variables
    g_before, d_before = _values(generator), _values(discriminator)
    history = model.fit(images, batch_size=4, epochs=1, verbose=0)
    assert all(_changed(g_before, generator))
    assert all(_changed(d_before, discriminator))
    logs = history.history
    for name in (
        "loss",
        "l2",
        "logit_laplace",
        "vq",
        "generator_adversarial",
        "discriminator_loss",
        "discriminator_adversarial",
        "r1",
        "codebook_usage",
        "codebook_perplexity",
    ):
        assert name in logs and np.isfinite(logs[name][0]), name
    assert 0.0 < logs["codebook_usage"][0] <= 1.0
    assert int(model.optimizer.iterations) == 2
    assert int(model.optimizer.discriminator_optimizer.iterations) == 2


@pytest.mark.parametrize("frozen", ["generator", "discriminator"])
def test_each_loss_updates_only_its_own_network(micro_vqgan_config, images, frozen):
    # The frozen network's optimizer has learning rate 0. The other network's loss must not
    # reach it: if the generator's step leaked gradients into the discriminator's weights (or
    # the discriminator's into the generator's), they would move.
    model = VitVQGAN(**micro_vqgan_config)
    _compile(
        model,
        g_lr=0.0 if frozen == "generator" else 1e-3,
        d_lr=0.0 if frozen == "discriminator" else 1e-3,
    )
    networks = {
        "generator": _generator_variables(model),
        "discriminator": model.discriminator.trainable_variables,
    }
    before = {name: _values(variables) for name, variables in networks.items()}
    model.fit(images, batch_size=4, epochs=1, verbose=0)
    for name, variables in networks.items():
        changed = _changed(before[name], variables)
        assert (not any(changed)) if name == frozen else all(changed), name


def test_discriminator_waits_for_its_start_step(micro_vqgan_config, images):
    model = VitVQGAN(**micro_vqgan_config)
    _compile(model, discriminator_start=2)
    discriminator = model.discriminator.trainable_variables
    d_before = _values(discriminator)
    history = model.fit(images[:4], batch_size=4, epochs=2, verbose=0)
    # Steps 0 and 1 run before the start: zero discriminator loss, untouched weights.
    assert not any(_changed(d_before, discriminator))
    assert history.history["discriminator_loss"] == [0.0, 0.0]
    model.fit(images[:4], batch_size=4, epochs=1, verbose=0)
    assert any(_changed(d_before, discriminator))


def test_loss_terms_follow_the_weights(micro_vqgan_config, images):
    model = VitVQGAN(**dict(micro_vqgan_config, logit_laplace=False))
    with pytest.raises(ValueError, match="logit_laplace_weight"):
        _compile(model)
    _compile(model, logit_laplace_weight=0.0, adversarial_weight=0.0)
    total, terms, _ = model.generator_losses(model.prepare_images(images), training=False)
    assert set(terms) == {"l2", "vq"}
    np.testing.assert_allclose(float(total), float(terms["l2"]) + float(terms["vq"]), rtol=1e-5)
    discriminator = model.discriminator.trainable_variables
    d_before = _values(discriminator)
    history = model.fit(images, batch_size=4, epochs=1, verbose=0)
    assert "discriminator_loss" not in history.history
    # Without the adversarial term the discriminator is not trained at all.
    assert not any(_changed(d_before, discriminator))
    assert int(model.optimizer.discriminator_optimizer.iterations) == 0


def test_l1_term_and_pixel_losses_on_the_unclipped_prediction(micro_vqgan_config, images):
    model = VitVQGAN(**dict(micro_vqgan_config, logit_laplace=False))
    _compile(model, logit_laplace_weight=0.0, adversarial_weight=0.0, l1_weight=0.5)
    total, terms, outputs = model.generator_losses(model.prepare_images(images), training=False)
    prediction = ops.convert_to_numpy(outputs["prediction"])
    # A linear decoder's raw output leaves [0, 1]; the images users get are clipped to it.
    np.testing.assert_allclose(
        ops.convert_to_numpy(outputs["reconstruction"]), np.clip(prediction, 0, 1), atol=1e-6
    )
    np.testing.assert_allclose(float(terms["l2"]), np.mean((prediction - images) ** 2), rtol=1e-5)
    np.testing.assert_allclose(float(terms["l1"]), np.mean(np.abs(prediction - images)), rtol=1e-5)
    expected = float(terms["l2"]) + 0.5 * float(terms["l1"]) + float(terms["vq"])
    np.testing.assert_allclose(float(total), expected, rtol=1e-5)
    assert "l1" in model.fit(images, batch_size=4, epochs=1, verbose=0).history


def test_bad_compile_arguments(micro_vqgan_config):
    model = VitVQGAN(**micro_vqgan_config)
    with pytest.raises(ValueError, match="`l2_weight`"):
        model.compile(l2_weight=-1.0, perceptual_weight=0.0)
    with pytest.raises(ValueError, match="`discriminator_start`"):
        model.compile(discriminator_start=-3, perceptual_weight=0.0)


def test_evaluate_reports_generator_losses(micro_vqgan_config, images):
    model = VitVQGAN(**micro_vqgan_config)
    _compile(model)
    results = model.evaluate(images, batch_size=4, verbose=0, return_dict=True)
    assert {"loss", "l2", "vq", "codebook_usage"} <= set(results)
    assert "discriminator_loss" not in results
    reconstruction = ops.convert_to_numpy(model.predict(images, batch_size=4, verbose=0))
    np.testing.assert_allclose(results["l2"], np.mean((reconstruction - images) ** 2), rtol=1e-4)


def test_training_state_survives_keras_save(micro_vqgan_config, images, tmp_path):
    model = VitVQGAN(**micro_vqgan_config)
    model.compile(
        optimizer=vit_vqgan_optimizer(total_steps=100, warmup_steps=10),
        perceptual_weight=0.0,
        discriminator_start=1,
    )
    model.fit(images, batch_size=4, epochs=1, verbose=0)
    path = str(tmp_path / "trained.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored.optimizer, GANOptimizer)
    assert int(restored.optimizer.iterations) == 2
    for a, b in zip(restored.optimizer.variables, model.optimizer.variables):
        np.testing.assert_allclose(ops.convert_to_numpy(a), ops.convert_to_numpy(b))
    assert restored.discriminator_start == 1
    # Training resumes from the restored state on every backend.
    restored.fit(images, batch_size=4, epochs=1, verbose=0)
    assert int(restored.optimizer.discriminator_optimizer.iterations) == 4


def test_dead_code_restarts_during_fit(micro_vqgan_config, images):
    config = dict(
        micro_vqgan_config, restart_dead_codes=True, usage_decay=0.0, dead_code_threshold=0.5
    )
    model = VitVQGAN(**config)
    _compile(model, adversarial_weight=0.0, dead_code_restart_steps=1)
    model.fit(images[:4], batch_size=4, epochs=1, verbose=0)
    # With decay 0 the usage average is this batch's usage; every unused code was re-seeded
    # from a latent and marked alive again.
    assert np.all(ops.convert_to_numpy(model.quantizer.code_usage) == 1.0)
    norms = np.linalg.norm(ops.convert_to_numpy(model.quantizer.codebook), axis=-1)
    assert np.sum(np.isclose(norms, 1.0, atol=1e-3)) > 0  # re-seeded codes are unit latents


def test_mixed_bfloat16_training_stays_finite(micro_vqgan_config, images):
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = VitVQGAN(**micro_vqgan_config)
    assert model.encoder.compute_dtype == "bfloat16"
    _compile(model, r1_weight=1.0)
    history = model.fit(images, batch_size=4, epochs=3, verbose=0)
    for name, values in history.history.items():
        assert np.all(np.isfinite(values)), name
    assert all(np.isfinite(ops.convert_to_numpy(v)).all() for v in model.trainable_variables)


def test_perceptual_term_trains_with_a_vgg_weights_file(
    micro_vqgan_config, images, tmp_path, no_compilation_cache_writes
):
    # Random VGG16 weights saved to a file stand in for ImageNet's (never downloaded in tests).
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = str(tmp_path / "vgg16.weights.h5")
    vgg.save_weights(path)
    model = VitVQGAN(**micro_vqgan_config)
    tokenizer_weights = len(model.weights)
    _compile(model, perceptual_weight=0.1, perceptual_network_weights=path, adversarial_weight=0)
    total, terms, _ = model.generator_losses(model.prepare_images(images), training=False)
    assert float(terms["perceptual"]) > 0
    history = model.fit(images, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["perceptual"][0])
    # The VGG belongs to the loss, not to the tokenizer: it is not saved with the model.
    assert len(model.weights) == tokenizer_weights


def test_float16_policy_is_refused(micro_vqgan_config):
    keras.config.set_dtype_policy("mixed_float16")
    model = VitVQGAN(**micro_vqgan_config)
    with pytest.raises(ValueError, match="mixed_bfloat16"):
        model.compile(perceptual_weight=0.0)


def test_optimizer_is_built_before_the_first_train_step(micro_vqgan_config):
    # Every layer of a new tokenizer is built, so the optimizer is built before the first
    # step is traced: TensorFlow then traces that step once (a second trace made the
    # tokenizer's first fit ~1.6x slower), and the other backends never build it in the step.
    model = VitVQGAN(**micro_vqgan_config)
    unbuilt = [layer.name for layer in model._flatten_layers() if not layer.built]
    assert unbuilt == []
    _compile(model)
    model.make_train_function()
    if keras.backend.backend() == "tensorflow":
        assert model.optimizer.built
