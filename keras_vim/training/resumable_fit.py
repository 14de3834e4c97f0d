"""`fit_resumable`: `model.fit` that checkpoints every epoch and resumes a killed run exactly.

Keras' `BackupAndRestore` restores the weights, the optimizer state (for a ViT-VQGAN both
optimizers: they live in one `GANOptimizer`), the step counter that drives the learning-rate
schedule and the discriminator start, and the epoch to continue from. It does not rewind the
input pipeline: a restarted run would see the first batches again. `fit_resumable` skips the
batches the finished epochs consumed, so with a deterministic pipeline (seeded
shuffling, as keras_vim's pipelines do) the resumed run ends where an uninterrupted one would.
Random augmentations are the exception: Keras' augmentation layers draw from a state that
advances with every batch the pipeline prepares ahead, so a resumed run sees the same images
in the same order but differently flipped and shifted. It also checkpoints the
random-number states of the model's layers (dropout, class dropout), which Keras' weight files
leave out.

With `run_settings` (the flags of the run, say) the checkpoint records them, and a run with
other settings refuses to resume it: resuming another run's checkpoint would continue that
run, not start this one.
"""

import json
import os

import keras
import numpy as np

from keras_vim.training.progress import TimeEstimate
from keras_vim.utils.checks import check_integer
from keras_vim.utils.run_directory import describe_differences, normalized

CHECKPOINT_DIR = "checkpoint"
HISTORY_FILE = "history.csv"


def run_checkpoint_and_logs(directory):
    """Where a run in `directory` checkpoints (`checkpoint/`, for `fit_resumable`) and the
    callbacks it logs with: the training curves in `history.csv` (appended to when the run
    resumes) and a `TimeEstimate` after the first epoch."""
    backup_dir = os.path.join(directory, CHECKPOINT_DIR)
    resumed = completed_epochs(backup_dir) > 0
    history = keras.callbacks.CSVLogger(os.path.join(directory, HISTORY_FILE), append=resumed)
    return backup_dir, [history, TimeEstimate()]


# Written by keras.callbacks.BackupAndRestore into its backup directory.
_METADATA_FILE = "training_metadata.json"
_RANDOM_STATES_FILE = "random_states.npz"
_SETTINGS_FILE = "run_settings.json"


def completed_epochs(backup_dir):
    """Epochs a run checkpointed into `backup_dir` has finished (0 when there is no backup)."""
    path = os.path.join(backup_dir, _METADATA_FILE)
    if not os.path.isfile(path):
        return 0
    with open(path) as f:
        return int(json.load(f)["epoch"])


def fit_resumable(
    model,
    dataset,
    *,
    epochs,
    steps_per_epoch,
    backup_dir,
    callbacks=(),
    delete_checkpoint=True,
    run_settings=None,
    **fit_kwargs,
):
    """Runs `model.fit`, saving a checkpoint into `backup_dir` at the end of every epoch.

    Restarted with the same `backup_dir` after an interruption, it continues from the last
    finished epoch with the same step count, optimizer state and learning rate.

    Args:
        model: a compiled, built Keras model.
        dataset: a repeated `tf.data.Dataset` whose order depends only on its seeds.
        epochs, steps_per_epoch: as in `fit`; `steps_per_epoch` is required.
        backup_dir: directory of the checkpoint.
        callbacks: more callbacks (a `CSVLogger` should use `append=True`).
        delete_checkpoint: remove the checkpoint once training has finished.
        run_settings: optional JSON-serializable dict of what makes the run (e.g. its flags),
            stored with the checkpoint; a checkpoint recording other settings (or none) is
            not resumed but refused with a `ValueError`.
        **fit_kwargs: passed to `fit` (e.g. `validation_data`, `verbose`).

    Returns:
        The `History` of the epochs this call ran.
    """
    epochs = check_integer("epochs", epochs, minimum=1)
    steps_per_epoch = check_integer("steps_per_epoch", steps_per_epoch, minimum=1)
    if not model.built:
        raise ValueError("`fit_resumable` needs a built model (build it or call it once).")
    done = completed_epochs(backup_dir)
    if run_settings is not None:
        _check_settings(backup_dir, normalized(run_settings), done)
    if done > epochs:
        raise ValueError(
            f"The checkpoint in {backup_dir} has {done} epochs done, more than this run's "
            f"{epochs}: it belongs to another run. Delete {backup_dir} to start afresh."
        )
    if done:
        print(f"Resuming from the checkpoint in {backup_dir}: {done} of {epochs} epochs done.")
        dataset = dataset.skip(done * steps_per_epoch)
    backup = keras.callbacks.BackupAndRestore(
        backup_dir, save_freq="epoch", delete_checkpoint=delete_checkpoint
    )
    random_states = _RandomStates(backup_dir, delete_checkpoint)
    return model.fit(
        dataset,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=[backup, random_states, *callbacks],
        **fit_kwargs,
    )


def _check_settings(backup_dir, settings, done):
    """Refuses a checkpoint of other settings; records `settings` with a new one."""
    path = os.path.join(backup_dir, _SETTINGS_FILE)
    if not done:
        os.makedirs(backup_dir, exist_ok=True)
        with open(path, "w") as f:
            json.dump(settings, f, indent=2)
        return
    saved = None
    if os.path.isfile(path):
        with open(path) as f:
            saved = json.load(f)
    if saved != settings:
        why = (
            "records no run settings"
            if saved is None
            else f"belongs to a run with other settings ({describe_differences(saved, settings)})"
        )
        raise ValueError(
            f"The checkpoint in {backup_dir} ({done} epochs done) {why}: it is not resumed. "
            f"Resume it with its own settings, or delete {backup_dir} to start afresh."
        )


class _RandomStates(keras.callbacks.Callback):
    """Checkpoints the seed-generator states (variables outside `model.weights`) and, on
    torch, the global generator that Keras' unseeded dropout uses there."""

    def __init__(self, backup_dir, delete_checkpoint):
        super().__init__()
        self.path = os.path.join(backup_dir, _RANDOM_STATES_FILE)
        self.delete_checkpoint = delete_checkpoint

    def _states(self):
        weights = {id(v) for v in self.model.weights}
        return [v for v in self.model.variables if id(v) not in weights]

    def on_train_begin(self, logs=None):
        if not os.path.isfile(self.path):
            return
        with np.load(self.path) as saved:
            saved = dict(saved)
        torch_rng = saved.pop("torch_rng", None)
        states = self._states()
        if len(saved) != len(states):
            raise ValueError(
                f"{self.path} holds {len(saved)} random states; the model has "
                f"{len(states)}: the checkpoint belongs to another model."
            )
        for i, variable in enumerate(states):
            variable.assign(saved[f"state_{i}"])
        self._torch_rng = torch_rng

    def on_train_batch_begin(self, batch, logs=None):
        # Restored here, not in `on_train_begin`: `fit` draws from it between the two.
        if getattr(self, "_torch_rng", None) is not None:
            import torch

            torch.set_rng_state(torch.from_numpy(self._torch_rng))
            self._torch_rng = None

    def on_epoch_end(self, epoch, logs=None):
        values = {f"state_{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(self._states())}
        if keras.backend.backend() == "torch":
            # Unseeded dropout on torch draws from torch's global generator, not a Keras state.
            import torch

            values["torch_rng"] = torch.get_rng_state().numpy()
        np.savez(self.path, **values)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.isfile(self.path):
            os.remove(self.path)
