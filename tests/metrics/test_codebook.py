import numpy as np
import pytest

from keras_vim.metrics import (
    CodebookPerplexity,
    CodebookStatistics,
    CodebookUsage,
    codebook_redundancy,
    codes_for_coverage,
    dead_codes,
)


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


def test_statistics_paper_usage_on_a_hand_made_dataset():
    # 5 images of 2 tokens, 6 codes, usage batches of 2 images (the paper uses 256).
    ids = np.array([[0, 0], [1, 1], [2, 3], [2, 2], [0, 5]])
    stats = CodebookStatistics(num_codes=6, usage_batch_size=2)
    # Fed in uneven pieces: images are regrouped into usage batches [0, 1], [2, 3]; 4 is left.
    stats.update(ids[:1])
    stats.update(ids[1:4])
    stats.update(ids[4:])
    result = stats.result()
    assert result["codebook_usage"] == pytest.approx((2 / 6 + 2 / 6) / 2)
    assert result["codebook_usage_batches"] == 2
    assert result["codebook_usage_total"] == pytest.approx(5 / 6)  # code 4 never used
    assert result["dead_codes"] == 1
    counts = np.array([3, 2, 3, 1, 0, 1]) / 10
    counts = counts[counts > 0]
    assert result["perplexity"] == pytest.approx(np.exp(-np.sum(counts * np.log(counts))))


def test_statistics_with_fewer_images_than_a_usage_batch():
    stats = CodebookStatistics(num_codes=8)  # batches of 256 images
    stats.update(np.array([[[0, 1], [1, 2]]]))
    result = stats.result()
    assert result["codebook_usage_batches"] == 0
    assert result["codebook_usage"] == pytest.approx(3 / 8)
    assert result["dead_codes"] == 5


def test_dead_codes_and_bad_ids():
    assert dead_codes(np.array([[3, 3], [0, 7]]), num_codes=10) == 7
    with pytest.raises(ValueError, match="ids"):
        CodebookStatistics(num_codes=4).update(np.array([[0, 4]]))
    with pytest.raises(TypeError, match="ids"):
        CodebookStatistics(num_codes=4).update(np.array([[0.5]]))
    with pytest.raises(ValueError, match="usage_batch_size"):
        CodebookStatistics(num_codes=4, usage_batch_size=0)


def test_codes_for_coverage():
    # 10 tokens: code 2 covers 5, code 0 three more (80%), a third code reaches 90%.
    assert codes_for_coverage(np.array([3, 1, 5, 1, 0])) == 3
    assert codes_for_coverage(np.array([3, 1, 5, 1, 0]), coverage=0.8) == 2
    assert codes_for_coverage(np.array([0, 0])) == 0


def test_redundancy_merges_near_duplicate_codes():
    angle = np.deg2rad(10.0)  # cosine 0.985 > 0.95: one code
    codebook = np.array(
        [[1.0, 0.0], [np.cos(angle), np.sin(angle)], [0.0, 2.0], [-1.0, 0.0], [0.0, -1.0]]
    )
    counts = np.array([5, 3, 2, 1, 0])  # the last code is unused: it counts for nothing
    distinct, nearest = codebook_redundancy(codebook, counts)
    assert distinct == 3
    # Nearest other used code: 0 <-> 1 at 10 degrees; code 2 to code 1 at 80 degrees; code 3
    # to code 2 at 90 degrees.
    expected = np.median([np.cos(angle), np.cos(angle), np.sin(angle), 0.0])
    assert nearest == pytest.approx(expected)
    stats = CodebookStatistics(num_codes=5, usage_batch_size=1, codebook=codebook)
    stats.update(np.array([[0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 3]]))
    result = stats.result()
    assert result["codebook_usage"] == pytest.approx(4 / 5)
    assert result["distinct_code_usage"] == pytest.approx(3 / 5)
    assert result["codes_for_90_percent"] == 3  # 5 + 3 + 2 = 10 of 11 tokens is 90.9%
    with pytest.raises(ValueError, match="`codebook` must have shape"):
        CodebookStatistics(num_codes=4, codebook=codebook)
