import keras
import pytest

from keras_vim.training import vit_vqgan_optimizer, warmup_cosine_schedule


def test_warmup_then_cosine_to_final():
    schedule = warmup_cosine_schedule(1000, 100, 1e-4, 5e-5)
    assert float(schedule(0)) == pytest.approx(0.0)
    assert float(schedule(50)) == pytest.approx(5e-5, rel=1e-4)
    assert float(schedule(100)) == pytest.approx(1e-4, rel=1e-4)
    assert float(schedule(550)) == pytest.approx(7.5e-5, rel=1e-3)  # cosine midpoint
    assert float(schedule(1000)) == pytest.approx(5e-5, rel=1e-4)


def test_paper_optimizer_defaults():
    optimizer = vit_vqgan_optimizer()
    assert isinstance(optimizer, keras.optimizers.AdamW)
    assert (optimizer.beta_1, optimizer.beta_2, optimizer.weight_decay) == (0.9, 0.99, 1e-4)
    assert float(optimizer.learning_rate) == 0.0  # step 0 of the warm-up


def test_bad_schedule():
    with pytest.raises(ValueError, match="must exceed `warmup_steps`"):
        warmup_cosine_schedule(100, 100, 1e-4, 5e-5)


def test_same_values_as_keras_cosine_decay_and_saved_by_name():
    # The schedule picks its phase with `where` (cheap to trace once per variable, as AdamW's
    # weight decay reads it), not `cond`: the values must stay Keras' CosineDecay's.
    schedule = warmup_cosine_schedule(12, 4, 1e-3, 1e-4)
    keras_schedule = keras.optimizers.schedules.CosineDecay(**schedule.get_config())
    for step in range(16):
        assert float(schedule(step)) == pytest.approx(float(keras_schedule(step)), rel=1e-6)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert type(restored) is type(schedule) and restored.get_config() == schedule.get_config()
    without_warmup = warmup_cosine_schedule(10, 0, 1e-3, 1e-4)
    assert float(without_warmup(0)) == pytest.approx(1e-3) and without_warmup.warmup_target is None
