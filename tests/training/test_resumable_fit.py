"""A run killed mid-way and restarted with the same backup directory ends where an
uninterrupted run ends: same step count, weights, optimizer (and discriminator) state."""

import os

import keras
import numpy as np
import pytest
from keras import ops

from keras_vim.data import image_dataset, token_dataset
from keras_vim.models import VIM, VitVQGAN
from keras_vim.training import vim_optimizer, vit_vqgan_optimizer
from keras_vim.training.resumable_fit import completed_epochs, fit_resumable

EPOCHS, STEPS = 3, 2


class Interrupt(Exception):
    pass


class KillAfterEpoch(keras.callbacks.Callback):
    """Stands in for a killed process: raises once `epoch` has been checkpointed."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Interrupt()


def make_vqgan():
    from micro_configs import MICRO_VQGAN

    keras.utils.set_random_seed(5)
    model = VitVQGAN(**dict(MICRO_VQGAN, restart_dead_codes=True))
    # The learning rate changes every step and the GAN starts mid-run: both must resume.
    optimizer = vit_vqgan_optimizer(
        total_steps=EPOCHS * STEPS,
        warmup_steps=2,
        peak_learning_rate=1e-3,
        final_learning_rate=1e-4,
    )
    model.compile(optimizer=optimizer, perceptual_weight=0.0, discriminator_start=3)
    images = np.random.default_rng(5).random((16, 16, 16, 1)).astype("float32")
    return model, image_dataset(images, batch_size=4, seed=1, repeat=True)


def make_vim():
    keras.utils.set_random_seed(6)
    model = VIM(
        vocabulary_size=16,
        grid_size=(2, 3),
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        mlp_dim=32,
        num_classes=3,
        dropout=0.1,
        class_dropout=0.2,
        seed=6,
    )
    model.compile(
        optimizer=vim_optimizer(
            total_steps=EPOCHS * STEPS,
            warmup_steps=2,
            peak_learning_rate=1e-3,
            final_learning_rate=1e-4,
            decay_start=2,
        )
    )
    rng = np.random.default_rng(6)
    tokens = rng.integers(0, 16, (24, 2, 3)).astype("int32")
    labels = rng.integers(0, 3, 24).astype("int32")
    return model, token_dataset(tokens, labels, batch_size=4, seed=1, repeat=True)


def state(model):
    return [ops.convert_to_numpy(v) for v in model.weights + model.optimizer.variables]


@pytest.mark.parametrize("make", [make_vim, make_vqgan], ids=["vim", "vit_vqgan"])
def test_resumed_run_ends_like_an_uninterrupted_one(make, tmp_path):
    model, data = make()
    fit_resumable(
        model,
        data,
        epochs=EPOCHS,
        steps_per_epoch=STEPS,
        backup_dir=str(tmp_path / "a"),
        verbose=0,
    )
    expected = state(model)
    assert int(model.optimizer.iterations) == EPOCHS * STEPS

    backup = str(tmp_path / "b")
    model, data = make()
    with pytest.raises(Interrupt):
        fit_resumable(
            model,
            data,
            epochs=EPOCHS,
            steps_per_epoch=STEPS,
            backup_dir=backup,
            verbose=0,
            callbacks=[KillAfterEpoch(1)],
        )
    assert completed_epochs(backup) == 2

    model, data = make()  # a fresh process: new model, new pipeline
    history = fit_resumable(
        model, data, epochs=EPOCHS, steps_per_epoch=STEPS, backup_dir=backup, verbose=0
    )
    assert len(history.history["loss"]) == EPOCHS - 2
    assert int(model.optimizer.iterations) == EPOCHS * STEPS
    assert completed_epochs(backup) == 0  # the finished run removed its checkpoint
    assert len(expected) == len(state(model))
    for want, got in zip(expected, state(model)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_resuming_differs_from_restarting(tmp_path):
    """Guards the test above: without the skipped batches the weights would differ."""
    model, data = make_vim()
    fit_resumable(
        model, data, epochs=2, steps_per_epoch=STEPS, backup_dir=str(tmp_path / "a"), verbose=0
    )
    expected = state(model)
    model, data = make_vim()
    for _ in range(2):  # a naive restart: each run reads the pipeline from its start
        model.fit(data, epochs=1, steps_per_epoch=STEPS, verbose=0)
    assert any(not np.allclose(a, b) for a, b in zip(expected, state(model)))


def test_bad_arguments(tmp_path):
    model, data = make_vim()
    for bad in (None, 1.5, True):
        with pytest.raises(TypeError, match="`steps_per_epoch` must be an integer >= 1"):
            fit_resumable(model, data, epochs=2, steps_per_epoch=bad, backup_dir=str(tmp_path))
    with pytest.raises(ValueError, match="`steps_per_epoch` must be an integer >= 1, got 0"):
        fit_resumable(model, data, epochs=2, steps_per_epoch=0, backup_dir=str(tmp_path))
    with pytest.raises(TypeError, match="`epochs` must be an integer >= 1"):
        fit_resumable(model, data, epochs=2.0, steps_per_epoch=STEPS, backup_dir=str(tmp_path))
    with pytest.raises(ValueError, match="`epochs` must be an integer >= 1, got 0"):
        fit_resumable(model, data, epochs=0, steps_per_epoch=STEPS, backup_dir=str(tmp_path))


def test_a_checkpoint_of_other_settings_is_refused(tmp_path):
    backup = str(tmp_path / "backup")
    model, data = make_vim()
    with pytest.raises(Interrupt):
        fit_resumable(
            model,
            data,
            epochs=EPOCHS,
            steps_per_epoch=STEPS,
            backup_dir=backup,
            verbose=0,
            callbacks=[KillAfterEpoch(0)],
            run_settings={"steps": 400, "learning_rate": 0.05},
        )
    model, data = make_vim()
    with pytest.raises(ValueError, match="steps: 400 there, 2 here.*delete .*backup"):
        fit_resumable(
            model,
            data,
            epochs=1,
            steps_per_epoch=STEPS,
            backup_dir=backup,
            verbose=0,
            run_settings={"steps": 2, "learning_rate": 0.05},
        )
    assert completed_epochs(backup) == 1  # the checkpoint is left as it was
    # A checkpoint that records no settings is not taken for this run's either.
    os.remove(os.path.join(backup, "run_settings.json"))
    with pytest.raises(ValueError, match="records no run settings"):
        fit_resumable(
            model,
            data,
            epochs=EPOCHS,
            steps_per_epoch=STEPS,
            backup_dir=backup,
            verbose=0,
            run_settings={"steps": 400, "learning_rate": 0.05},
        )


def test_a_checkpoint_with_more_epochs_than_the_run_is_refused(tmp_path):
    backup = str(tmp_path / "backup")
    model, data = make_vim()
    with pytest.raises(Interrupt):
        fit_resumable(
            model,
            data,
            epochs=EPOCHS,
            steps_per_epoch=STEPS,
            backup_dir=backup,
            verbose=0,
            callbacks=[KillAfterEpoch(1)],
        )
    with pytest.raises(ValueError, match="2 epochs done, more than this run's 1"):
        fit_resumable(model, data, epochs=1, steps_per_epoch=STEPS, backup_dir=backup, verbose=0)
