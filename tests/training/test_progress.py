"""keras_vim.training.TimeEstimate: the time left after the first epochs, at their pace."""

import keras
import numpy as np

from keras_vim.training import TimeEstimate, progress


def test_estimates_follow_the_measured_epochs(monkeypatch):
    # Epoch 1 takes 10 s (compiling), epoch 2 4 s, epoch 3 5 s, of a fit of 5 epochs.
    clock = iter([0.0, 10.0, 10.0, 14.0, 14.0, 19.0, 19.0, 23.0, 23.0, 27.0])
    monkeypatch.setattr(progress.time, "time", lambda: next(clock))
    lines = []
    estimate = TimeEstimate(print_fn=lines.append)
    estimate.set_params({"epochs": 5})
    estimate.on_train_begin()
    for epoch in range(5):
        estimate.on_epoch_begin(epoch)
        estimate.on_epoch_end(epoch)
    assert lines == [
        "time estimate: ~40s left (4 more epochs at epoch 1's 10.0s, which includes compiling)",
        "time estimate: ~12s left (3 more epochs at epoch 2's 4.0s)",
    ]


def test_a_resumed_fit_counts_its_own_epochs_only(monkeypatch):
    clock = iter([0.0, 6.0, 6.0, 9.0])
    monkeypatch.setattr(progress.time, "time", lambda: next(clock))
    lines = []
    estimate = TimeEstimate(print_fn=lines.append)
    estimate.set_params({"epochs": 4})
    estimate.on_train_begin()
    for epoch in (2, 3):  # epochs 1 and 2 were run before the restart
        estimate.on_epoch_begin(epoch)
        estimate.on_epoch_end(epoch)
    assert lines == [
        "time estimate: ~6s left (1 more epoch at epoch 3's 6.0s, which includes compiling)"
    ]


def test_in_a_fit(capsys):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    data = np.zeros((4, 2), "float32"), np.zeros((4, 1), "float32")
    model.fit(*data, epochs=3, verbose=0, callbacks=[TimeEstimate()])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert "(2 more epochs at epoch 1's" in lines[0] and "(1 more epoch at epoch 2's" in lines[1]
