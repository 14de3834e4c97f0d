"""The paper's optimizer settings (section 3.3) as ready-made Keras optimizers."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_vim")
class WarmupCosineDecay(keras.optimizers.schedules.CosineDecay):
    """Keras' `CosineDecay` with warm-up, its two phases chosen by `ops.where`, not `ops.cond`.

    The values are `CosineDecay`'s (to float32 rounding). Why: Keras' AdamW reads its learning
    rate once per variable (for the weight decay), so a traced train step holds one copy of
    the schedule per variable. On TensorFlow each `cond` copy is traced into two branch graphs,
    several seconds per trace of the ViT-VQGAN's GAN step (two AdamWs) on one CPU core; a
    `where` of two scalars is a few ops.
    """

    def __call__(self, step):
        if self.warmup_target is None:
            return super().__call__(step)
        with keras.name_scope(self.name):
            initial_learning_rate = ops.convert_to_tensor(self.initial_learning_rate)
            dtype = initial_learning_rate.dtype
            decay_steps = ops.cast(self.decay_steps, dtype)
            warmup_target = ops.cast(self.warmup_target, dtype)
            warmup_steps = ops.cast(self.warmup_steps, dtype)
            step = ops.minimum(ops.cast(step, dtype), decay_steps + warmup_steps)
            # Both phases are computed; `where` keeps the one `cond` would have run.
            warmup = self._warmup_function(step, warmup_steps, warmup_target, initial_learning_rate)
            decay = self._decay_function(step - warmup_steps, decay_steps, warmup_target, dtype)
            return ops.where(step < warmup_steps, warmup, decay)


def warmup_cosine_schedule(total_steps, warmup_steps, peak_learning_rate, final_learning_rate):
    """Linear warm-up from 0 to `peak_learning_rate`, then cosine decay to `final_learning_rate`.

    The ViT-VQGAN schedule: warm-up to 1e-4 over 50k steps, cosine decay to 5e-5 at 500k.
    """
    if warmup_steps < 0 or total_steps <= warmup_steps:
        raise ValueError(
            f"`total_steps` ({total_steps}) must exceed `warmup_steps` ({warmup_steps}) >= 0."
        )
    return WarmupCosineDecay(
        initial_learning_rate=0.0 if warmup_steps else peak_learning_rate,
        decay_steps=total_steps - warmup_steps,
        alpha=final_learning_rate / peak_learning_rate,
        warmup_target=peak_learning_rate if warmup_steps else None,
        warmup_steps=warmup_steps,
    )


def vit_vqgan_optimizer(
    total_steps=500_000,
    warmup_steps=50_000,
    peak_learning_rate=1e-4,
    final_learning_rate=5e-5,
    weight_decay=1e-4,
    beta_1=0.9,
    beta_2=0.99,
):
    """AdamW with the paper's tokenizer settings, for the tokenizer or its discriminator.

    Args:
        total_steps: length of the schedule.
        warmup_steps: linear warm-up steps.
        peak_learning_rate: learning rate at the end of warm-up.
        final_learning_rate: learning rate at `total_steps`.
        weight_decay: decoupled weight decay.
        beta_1, beta_2: Adam's moment decays.

    Example:
    >>> optimizer = keras_vim.training.vit_vqgan_optimizer(total_steps=10_000, warmup_steps=500)
    """
    return keras.optimizers.AdamW(
        learning_rate=warmup_cosine_schedule(
            total_steps, warmup_steps, peak_learning_rate, final_learning_rate
        ),
        weight_decay=weight_decay,
        beta_1=beta_1,
        beta_2=beta_2,
    )
