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
