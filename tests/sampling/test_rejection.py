import os

import numpy as np
import pytest

from keras_vim.models import VIM, VitVQGAN
from keras_vim.sampling import candidates_needed, rejection_sample

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "micro_vqgan")
# The micro tokenizer: 16x16 images, a 4x4 grid of 32 codes.
MICRO_VIM = dict(
    vocabulary_size=32, grid_size=4, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=32
)
BATCH = 8  # candidates per generate call: one compiled sampler per model


def stub_probabilities(images):
    """A stand-in classifier with a known score: class probabilities from mean brightness."""
    brightness = np.asarray(images, "float64").mean(axis=(1, 2, 3))
    logits = np.stack([40 * brightness, np.full_like(brightness, 20.0), -40 * brightness], 1)
    logits -= logits.max(axis=1, keepdims=True)
    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


class StubClassifier:
    def __init__(self):
        self.calls = []

    def predict_proba(self, images):
        self.calls.append(len(images))
        return stub_probabilities(images)


@pytest.fixture(scope="module")
def tokenizer():
    return VitVQGAN.from_preset(FIXTURE)


@pytest.fixture(scope="module")
def conditional():
    return VIM(**MICRO_VIM, num_classes=3, seed=3)


def check_top_scores(result, requested):
    """Each class keeps the best-scored of its candidates; the scores are the classifier's."""
    scores, candidates = result["candidate_scores"], result["candidate_class_ids"]
    for c in np.unique(requested):
        kept = np.sort(result["scores"][requested == c])
        best = np.sort(scores[candidates == c])[-len(kept) :]
        np.testing.assert_array_equal(kept, best)
    recomputed = stub_probabilities(result["images"])[np.arange(len(requested)), requested]
    np.testing.assert_allclose(recomputed, result["scores"], rtol=1e-5, atol=1e-7)


def test_quarter_rate_draws_four_candidates_per_sample_and_keeps_the_best(conditional, tokenizer):
    requested = np.array([2, 0, 2, 1, 2, 0], "int32")
    classifier = StubClassifier()
    result = conditional.rejection_sample(
        tokenizer, classifier, 0.25, class_ids=requested, batch_size=BATCH, seed=0
    )
    # 2, 1 and 3 samples of classes 0, 1, 2: 8, 4 and 12 candidates, in calls of 8.
    assert result["num_candidates"] == 24 and classifier.calls == [8, 8, 8]
    assert result["acceptance_rate"] == 0.25 and result["requested_acceptance_rate"] == 0.25
    np.testing.assert_array_equal(np.bincount(result["candidate_class_ids"]), [8, 4, 12])
    np.testing.assert_array_equal(result["class_ids"], requested)
    assert result["images"].shape == (6, 16, 16, 1) and result["token_ids"].shape == (6, 4, 4)
    check_top_scores(result, requested)
    # The candidates differ, so rejection raises the mean score above the candidates'.
    assert np.ptp(result["candidate_scores"]) > 1e-3
    assert result["scores"].mean() > result["candidate_scores"].mean()
    # Seeded: the same seed draws the same candidates (numpy scalars are numbers too).
    again = rejection_sample(
        conditional,
        tokenizer,
        stub_probabilities,
        np.float32(0.25),
        class_ids=requested,
        batch_size=np.int64(BATCH),
        seed=np.int64(0),
    )
    np.testing.assert_array_equal(again["token_ids"], result["token_ids"])


@pytest.mark.parametrize("rate, candidates", [(1.0, 3), (0.3, 10), (0.35, 9)])
def test_rate_rounds_the_candidates_up_and_reports_the_achieved_rate(
    conditional, tokenizer, rate, candidates
):
    requested = np.array([1, 1, 1], "int32")
    result = rejection_sample(
        conditional,
        tokenizer,
        stub_probabilities,
        rate,
        class_ids=requested,
        batch_size=BATCH,
        seed=1,
    )
    assert result["num_candidates"] == candidates == candidates_needed(3, rate)
    assert result["acceptance_rate"] == pytest.approx(3 / candidates)
    assert len(result["images"]) == 3
    check_top_scores(result, requested)
    if rate == 1.0:  # no rejection: every candidate is kept
        np.testing.assert_array_equal(
            np.sort(result["scores"]), np.sort(result["candidate_scores"])
        )


def test_unconditional_prior_keeps_the_most_confident(tokenizer):
    prior = VIM(**MICRO_VIM, seed=4)
    result = rejection_sample(
        prior, tokenizer, stub_probabilities, 0.5, num_samples=3, batch_size=BATCH, seed=0
    )
    assert result["num_candidates"] == 6 and result["class_ids"] is None
    confidence = stub_probabilities(result["images"]).max(axis=1)
    np.testing.assert_allclose(confidence, result["scores"], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(
        np.sort(result["scores"]), np.sort(result["candidate_scores"])[-3:]
    )


@pytest.mark.parametrize(
    "rate, error",
    [
        (0, ValueError),
        (-0.5, ValueError),
        (1.5, ValueError),
        (float("nan"), ValueError),
        (True, TypeError),
        ("0.5", TypeError),
        (None, TypeError),
    ],
)
def test_acceptance_rate_must_be_in_0_1(conditional, tokenizer, rate, error):
    with pytest.raises(error, match=r"`acceptance_rate` must be a finite real number in \(0, 1\]"):
        rejection_sample(conditional, tokenizer, stub_probabilities, rate, class_ids=[0])


def test_bad_arguments(conditional, tokenizer):
    with pytest.raises(ValueError, match="class_ids"):
        rejection_sample(conditional, tokenizer, stub_probabilities, 0.5)
    with pytest.raises(ValueError, match="null class"):
        rejection_sample(conditional, tokenizer, stub_probabilities, 0.5, class_ids=[3])
    with pytest.raises(TypeError, match="classifier"):
        rejection_sample(conditional, tokenizer, object(), 0.5, class_ids=[0])
    with pytest.raises(ValueError, match="class probabilities"):
        rejection_sample(
            conditional,
            tokenizer,
            lambda images: np.ones((len(images), 3, 1)),
            0.5,
            class_ids=[0, 0, 0, 0],
            batch_size=BATCH,
        )
    with pytest.raises(ValueError, match="grid"):
        rejection_sample(
            VIM(**dict(MICRO_VIM, grid_size=2), num_classes=3),
            tokenizer,
            stub_probabilities,
            0.5,
            class_ids=[0],
        )
