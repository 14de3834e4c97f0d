"""benchmarks/reproduce/latent_kmeans.py: the reference codebook of the redundancy measure."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from benchmarks.reproduce.latent_kmeans import redundancy_of, spherical_kmeans  # noqa: E402


def clusters(directions, per_cluster, spread, seed=0):
    rng = np.random.default_rng(seed)
    points = np.repeat(directions, per_cluster, axis=0)
    return points + spread * rng.normal(size=points.shape)


def test_kmeans_finds_well_separated_clusters():
    directions = np.eye(8)[:4]
    centroids, counts = spherical_kmeans(clusters(directions, 50, 0.01), 4)
    assert sorted(counts) == [50, 50, 50, 50]
    # Each centroid is one cluster's direction (cosine ~1).
    np.testing.assert_allclose(np.sort((centroids @ directions.T).max(axis=0)), 1.0, atol=1e-3)


def test_crowded_latents_give_a_redundant_reference_codebook():
    # 16 codes for 4 tight clusters: the best codebook has 4 groups of near-duplicates.
    directions = np.eye(8)[:4]
    centroids, counts = spherical_kmeans(clusters(directions, 100, 0.02), 16)
    assert (counts > 0).all()
    result = redundancy_of(centroids, counts)
    assert result["used_share"] == 1.0
    assert result["distinct_share"] == 4 / 16
    assert result["median_nearest_code_cosine"] > 0.95


def test_kmeans_needs_as_many_vectors_as_codes():
    with pytest.raises(ValueError, match="num_codes"):
        spherical_kmeans(np.ones((3, 8)), 4)


def test_reference_measures_both_codebooks_on_the_models_latents():
    import keras

    from benchmarks.reproduce.latent_kmeans import latent_codebook_reference
    from keras_vim.models import VitVQGAN

    keras.utils.set_random_seed(0)
    model = VitVQGAN.from_preset("vit_vqgan_tiny", num_codes=64, code_dim=8)
    images = np.random.default_rng(0).random((2, 32, 32, 1), dtype=np.float32)
    result = latent_codebook_reference(model, images, iterations=10)
    assert result["latents"] == 2 * 64
    trained, kmeans = result["trained_codebook"], result["kmeans_codebook"]
    # k-means fits the latents it is given: all codes used, a smaller error than random codes.
    assert kmeans["used_share"] == 1.0
    assert kmeans["quantization_error"] < trained["quantization_error"]
    assert 0.0 < trained["distinct_share"] <= trained["used_share"] <= 1.0
