"""Helpers of the recipe tests: load a recipe, snapshot a directory, kill a run mid-way."""

import contextlib
import importlib.util
import os

import keras
import pytest
from file_snapshots import directory_files

RECIPES = os.path.join(os.path.dirname(__file__), "..", "..", "recipes")


@pytest.fixture(scope="session")
def load_recipe():
    """`load_recipe("train_vim")`: the recipe as a module (loaded once)."""
    loaded = {}

    def load(name):
        if name not in loaded:
            spec = importlib.util.spec_from_file_location(name, os.path.join(RECIPES, f"{name}.py"))
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            loaded[name] = module
        return loaded[name]

    return load


@pytest.fixture
def snapshot():
    return directory_files


class Killed(Exception):
    """Stands in for a killed process."""


class _KillAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise Killed()  # after the checkpoint callbacks, which come first


@contextlib.contextmanager
def killed_after_first_epoch(recipe):
    """Inside the block, the training that `recipe` (a recipe, or the library module that
    trains for it) runs is killed once its first epoch is checkpointed (it raises `Killed`)."""
    original = recipe.fit_resumable

    def fit_then_kill(*args, callbacks=(), **kwargs):
        return original(*args, callbacks=[*callbacks, _KillAfterFirstEpoch()], **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(recipe, "fit_resumable", fit_then_kill)
        with pytest.raises(Killed):
            yield


@pytest.fixture
def kill_after_first_epoch():
    return killed_after_first_epoch
