"""`TimeEstimate`: a progress line with the time a `fit` has left, after its first epochs."""

import time

import keras


class TimeEstimate(keras.callbacks.Callback):
    """After each of the first `report_epochs` epochs a `fit` runs, prints the time the
    remaining epochs take at that epoch's pace, e.g.
    `time estimate: ~95s left (5 more epochs at epoch 1's 19.1s, which includes compiling)`.

    The first epoch a process runs includes compiling the train step (and the validation
    step), so the first estimate is high; the second is the one to trust. Epochs a resumed
    run had finished before are not counted.

    Args:
        report_epochs: how many epochs print an estimate.
        print_fn: where the line goes (default `print`, flushed).
    """

    def __init__(self, report_epochs=2, print_fn=None):
        super().__init__()
        self.report_epochs = report_epochs
        self.print_fn = print_fn or (lambda line: print(line, flush=True))
        self._epochs_run = 0
        self._start = None

    def on_train_begin(self, logs=None):
        self._epochs_run = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        if self._start is None:
            return
        seconds = time.time() - self._start
        self._epochs_run += 1
        remaining = self.params.get("epochs", epoch + 1) - (epoch + 1)
        if self._epochs_run > self.report_epochs or remaining <= 0:
            return
        note = ", which includes compiling" if self._epochs_run == 1 else ""
        self.print_fn(
            f"time estimate: ~{remaining * seconds:.0f}s left ({remaining} more epoch"
            f"{'s' if remaining > 1 else ''} at epoch {epoch + 1}'s {seconds:.1f}s{note})"
        )
