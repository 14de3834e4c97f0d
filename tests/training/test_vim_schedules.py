import keras
import numpy as np
import pytest
from keras import ops

from keras_vim.training.vim_schedules import WarmupExponentialDecay, vim_optimizer, vim_schedule


def value(schedule, step):
    return float(ops.convert_to_numpy(schedule(step)))


def test_paper_schedule_values():
    schedule = vim_schedule()
    assert schedule.decay_start == 80_000 and schedule.total_steps == 450_000
    assert value(schedule, 0) == 0.0
    np.testing.assert_allclose(value(schedule, 2_500), 2.25e-4, rtol=1e-5)
    np.testing.assert_allclose(value(schedule, 5_000), 4.5e-4, rtol=1e-5)
    np.testing.assert_allclose(value(schedule, 80_000), 4.5e-4, rtol=1e-5)
    # Half-way through the decay: the geometric mean of the two ends.
    np.testing.assert_allclose(value(schedule, 265_000), np.sqrt(4.5e-4 * 1e-5), rtol=1e-4)
    np.testing.assert_allclose(value(schedule, 450_000), 1e-5, rtol=1e-4)
    np.testing.assert_allclose(value(schedule, 900_000), 1e-5, rtol=1e-4)


def test_optimizer_settings_and_short_schedules():
    optimizer = vim_optimizer(total_steps=900, warmup_steps=100, peak_learning_rate=1e-3)
    assert isinstance(optimizer, keras.optimizers.Adam)
    assert (optimizer.beta_1, optimizer.beta_2) == (0.9, 0.96)
    assert float(ops.convert_to_numpy(optimizer.learning_rate)) == 0.0  # step 0 of the warm-up
    schedule = vim_schedule(total_steps=900, warmup_steps=100, peak_learning_rate=1e-3)
    assert schedule.decay_start == 160
    clone = WarmupExponentialDecay.from_config(schedule.get_config())
    assert value(clone, 500) == pytest.approx(value(schedule, 500))
    np.testing.assert_allclose(value(schedule, 900), 1e-5, rtol=1e-4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"total_steps": 100, "warmup_steps": 200}, "warmup_steps"),
        ({"total_steps": 100, "warmup_steps": 10, "decay_start": 100}, "decay_start"),
        ({"final_learning_rate": 1.0}, "final_learning_rate"),
    ],
)
def test_bad_schedules(kwargs, match):
    with pytest.raises(ValueError, match=match):
        vim_optimizer(**kwargs)


@pytest.mark.parametrize(
    "value, error", [(1.0, ValueError), (-0.1, ValueError), ("0.9", TypeError)]
)
def test_bad_ema_momentum_is_named(value, error):
    with pytest.raises(error, match="ema_momentum"):
        vim_optimizer(ema_momentum=value)


def test_ema_momentum_leaves_the_moving_average_of_the_weights_after_fit():
    momentum = 0.5
    x = np.linspace(-1, 1, 8, dtype="float32").reshape(4, 2)
    y = np.array([[1.0], [0.0], [2.0], [-1.0]], dtype="float32")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(
        optimizer=vim_optimizer(
            total_steps=10, warmup_steps=0, peak_learning_rate=0.1, ema_momentum=momentum
        ),
        loss="mse",
    )
    assert model.optimizer.use_ema and model.optimizer.ema_momentum == momentum
    trajectory = []  # the raw weights after each step (one step per epoch)
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: trajectory.append(
            [ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
        )
    )
    model.fit(x, y, batch_size=4, epochs=3, verbose=0, shuffle=False, callbacks=[record])
    # Keras' average starts at the first step's weights, then decays by `momentum`.
    expected = trajectory[0]
    for weights in trajectory[1:]:
        expected = [momentum * a + (1 - momentum) * w for a, w in zip(expected, weights)]
    for final, average, last in zip(model.trainable_weights, expected, trajectory[-1]):
        np.testing.assert_allclose(ops.convert_to_numpy(final), average, rtol=1e-5, atol=1e-6)
        assert not np.allclose(average, last)  # the average, not the last weights
    assert not vim_optimizer(total_steps=10, warmup_steps=0).use_ema
