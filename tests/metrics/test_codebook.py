import numpy as np
import pytest

from keras_vim.metrics import CodebookPerplexity, CodebookUsage


def test_usage_metric_averages_batches():
    metric = CodebookUsage(num_codes=4)
    metric.update_state(np.array([[0, 1], [1, 1]]))  # 2 of 4 codes
    metric.update_state(np.array([0, 1, 2, 3]))  # all 4
    assert float(metric.result()) == pytest.approx(0.75)
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_perplexity_metric():
    metric = CodebookPerplexity(num_codes=8)
    metric.update_state(np.array([5, 5, 5, 5]))
    metric.update_state(np.array([0, 1, 2, 3]))
    assert float(metric.result()) == pytest.approx((1.0 + 4.0) / 2, rel=1e-5)
    assert CodebookPerplexity.from_config(metric.get_config()).num_codes == 8
