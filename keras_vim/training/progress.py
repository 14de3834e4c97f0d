"""`TimeEstimate`: a progress line with the time a `fit` has left, after its first epochs."""

import time

import keras


class TimeEstimate(keras.callbacks.Callback):
    """After each of the first `report_epochs` epochs a `fit` runs, prints the time the
    remaining epochs take at that epoch's pace (validation included), e.g.
    `time estimate: ~95s left (5 more epochs at epoch 1's 19.1s, which includes compiling)`.

    The line comes when the next epoch begins, after Keras' line of the epoch it measured.
    The first epoch a process runs includes compiling the train step (and the validation
    step), so the first estimate is high; the second is the one to trust. Epochs a resumed
    run had finished before are not counted.

    Args:
        report_epochs: how many epochs give an estimate.
        print_fn: where the line goes (default `print`, flushed).
    """

    def __init__(self, report_epochs=2, print_fn=None):
        super().__init__()
        self.report_epochs = report_epochs
        self.print_fn = print_fn or (lambda line: print(line, flush=True))
        self._measured = []  # (epoch, seconds) of the epochs this fit ran
        self._start = None

    def on_train_begin(self, logs=None):
        self._measured = []

    def on_epoch_begin(self, epoch, logs=None):
        if self._measured and len(self._measured) <= self.report_epochs:
            last_epoch, seconds = self._measured[-1]
            if last_epoch == epoch - 1:
                remaining = self.params.get("epochs", epoch + 1) - epoch
                note = ", which includes compiling" if len(self._measured) == 1 else ""
                self.print_fn(
                    f"time estimate: ~{remaining * seconds:.0f}s left ({remaining} more epoch"
                    f"{'s' if remaining > 1 else ''} at epoch {epoch}'s {seconds:.1f}s{note})"
                )
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        if self._start is not None:
            self._measured.append((epoch, time.time() - self._start))
            self._start = None
