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
