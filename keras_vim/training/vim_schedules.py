"""The VIM prior's optimizer (paper section 4): Adam(0.9, 0.96), warm-up, exponential decay."""

import keras
from keras import ops

from keras_vim.utils.checks import check_real

# Paper: 450k steps, warm-up over 5k steps to 4.5e-4, exponential decay to 1e-5 from step 80k.
PAPER_TOTAL_STEPS = 450_000
PAPER_DECAY_START = 80_000


@keras.saving.register_keras_serializable(package="keras_vim")
class WarmupExponentialDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak_learning_rate`, constant until `decay_start`, then exponential
    decay that reaches `final_learning_rate` at `total_steps` (and stays there).

    Args:
        peak_learning_rate: learning rate after warm-up.
        final_learning_rate: learning rate at and after `total_steps`.
        warmup_steps: linear warm-up steps from 0.
        decay_start: step at which the exponential decay begins (`>= warmup_steps`).
        total_steps: step at which the decay reaches `final_learning_rate`.

    Example:
    >>> schedule = keras_vim.training.vim_schedules.WarmupExponentialDecay(
    ...     4.5e-4, 1e-5, warmup_steps=5_000, decay_start=80_000, total_steps=450_000)
    >>> float(schedule(450_000))  # doctest: +ELLIPSIS
    1.0...e-05
    """

    def __init__(
        self, peak_learning_rate, final_learning_rate, warmup_steps, decay_start, total_steps
    ):
        if not 0 < final_learning_rate <= peak_learning_rate:
            raise ValueError(
                f"Need 0 < `final_learning_rate` ({final_learning_rate}) <= "
                f"`peak_learning_rate` ({peak_learning_rate})."
            )
        if not 0 <= warmup_steps <= decay_start < total_steps:
            raise ValueError(
                f"Need 0 <= `warmup_steps` ({warmup_steps}) <= `decay_start` ({decay_start}) "
                f"< `total_steps` ({total_steps})."
            )
        self.peak_learning_rate = peak_learning_rate
        self.final_learning_rate = final_learning_rate
        self.warmup_steps = warmup_steps
        self.decay_start = decay_start
        self.total_steps = total_steps

    def __call__(self, step):
        step = ops.cast(step, "float32")
        peak = self.peak_learning_rate
        progress = ops.clip(
            (step - self.decay_start) / (self.total_steps - self.decay_start), 0.0, 1.0
        )
        decayed = peak * ops.power(self.final_learning_rate / peak, progress)
        if not self.warmup_steps:
            return decayed
        warmup = peak * step / self.warmup_steps
        return ops.where(step < self.warmup_steps, warmup, decayed)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "final_learning_rate": self.final_learning_rate,
            "warmup_steps": self.warmup_steps,
            "decay_start": self.decay_start,
            "total_steps": self.total_steps,
        }


def vim_schedule(
    total_steps=PAPER_TOTAL_STEPS,
    warmup_steps=5_000,
    peak_learning_rate=4.5e-4,
    final_learning_rate=1e-5,
    decay_start=None,
):
    """The paper's VIM learning-rate schedule as a `WarmupExponentialDecay`.

    `decay_start` defaults to the paper's fraction (80k / 450k) of `total_steps`, but not
    before the end of the warm-up. See `vim_optimizer` for the arguments.
    """
    if decay_start is None:
        decay_start = max(warmup_steps, round(total_steps * PAPER_DECAY_START / PAPER_TOTAL_STEPS))
    return WarmupExponentialDecay(
        peak_learning_rate, final_learning_rate, warmup_steps, decay_start, total_steps
    )


def vim_optimizer(
    total_steps=PAPER_TOTAL_STEPS,
    warmup_steps=5_000,
    peak_learning_rate=4.5e-4,
    final_learning_rate=1e-5,
    decay_start=None,
    beta_1=0.9,
    beta_2=0.96,
    weight_decay=None,
    global_clipnorm=None,
    ema_momentum=None,
):
    """Adam with the paper's VIM settings and the `WarmupExponentialDecay` schedule.

    The paper trains with Adafactor-style Adam(0.9, 0.96) for 450k steps: warm-up over 5k steps
    to 4.5e-4, exponential decay to 1e-5 from step 80k.

    Args:
        total_steps: length of the schedule.
        warmup_steps: linear warm-up steps.
        peak_learning_rate: learning rate after warm-up.
        final_learning_rate: learning rate at `total_steps`.
        decay_start: first step of the decay; default the paper's fraction (80k / 450k) of
            `total_steps`, but not before the end of the warm-up.
        beta_1, beta_2: Adam's moment decays.
        weight_decay: optional decoupled weight decay (not in the paper).
        global_clipnorm: optional gradient clipping by global norm.
        ema_momentum: optional, in [0, 1): keep an exponential moving average of the weights
            with this momentum (not in the paper). `fit` writes the average into the model
            when it returns; until then the model trains and validates with its raw weights.

    Example:
    >>> optimizer = keras_vim.training.vim_schedules.vim_optimizer(
    ...     total_steps=2_000, warmup_steps=100, peak_learning_rate=1e-3)
    """
    ema_momentum = check_real(
        "ema_momentum", ema_momentum, minimum=0, maximum=1, include_maximum=False, allow_none=True
    )
    return keras.optimizers.Adam(
        learning_rate=vim_schedule(
            total_steps, warmup_steps, peak_learning_rate, final_learning_rate, decay_start
        ),
        beta_1=beta_1,
        beta_2=beta_2,
        weight_decay=weight_decay,
        global_clipnorm=global_clipnorm,
        use_ema=ema_momentum is not None,
        ema_momentum=0.99 if ema_momentum is None else ema_momentum,
    )
