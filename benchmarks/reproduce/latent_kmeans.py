"""A reference codebook for the redundancy measure: spherical k-means on the encoder's latents.

`distinct_code_usage` merges codes within cosine 0.95. Whether a codebook can score high on it
depends on the latents as much as on how the codebook learns: where the encoder puts most
latents in a small region of the sphere, even the codebook that quantizes them best (k-means,
with as many codes) places its codes close together there. `latent_codebook_reference`
measures both codebooks on the same latents, so a low distinct share can be read as "the
codebook learns badly" (the k-means codebook scores much higher) or "the latents are crowded"
(it scores as low).
"""

import numpy as np
from keras import ops

from benchmarks.reproduce.training import unit, unit_latents
from keras_vim.metrics.codebook import codebook_redundancy


def assign(vectors, centroids):
    """Index of the highest-cosine centroid of each unit vector, and that cosine."""
    cosines = vectors @ centroids.T
    ids = np.argmax(cosines, axis=-1)
    return ids, cosines[np.arange(len(vectors)), ids]


def spherical_kmeans(vectors, num_codes, iterations=30, seed=0):
    """Lloyd's iterations on the unit sphere from k-means++ seeding (cosine distance).

    Returns `(centroids, counts)`: `(num_codes, dim)` unit centroids and how many `vectors`
    each one takes. An emptied cluster is re-seeded at the vector its centroid fits worst, so
    every centroid stays in use while there are at least `num_codes` distinct vectors.
    """
    vectors = unit(np.asarray(vectors, "float64"))
    if len(vectors) < num_codes:
        raise ValueError(f"need at least `num_codes`={num_codes} vectors, got {len(vectors)}.")
    rng = np.random.default_rng(seed)
    chosen = [rng.integers(len(vectors))]
    distance = 1.0 - vectors @ vectors[chosen[0]]
    for _ in range(num_codes - 1):
        weights = np.maximum(distance, 0.0)
        total = weights.sum()
        index = (
            rng.choice(len(vectors), p=weights / total) if total > 0 else rng.integers(len(vectors))
        )
        chosen.append(index)
        distance = np.minimum(distance, 1.0 - vectors @ vectors[index])
    centroids = vectors[chosen].copy()
    for _ in range(iterations):
        ids, cosines = assign(vectors, centroids)
        sums = np.zeros_like(centroids)
        np.add.at(sums, ids, vectors)
        counts = np.bincount(ids, minlength=num_codes)
        worst = np.argsort(cosines)
        for rank, empty in enumerate(np.flatnonzero(counts == 0)):
            sums[empty] = vectors[worst[rank]]
        centroids = unit(sums)
    ids, _ = assign(vectors, centroids)
    return centroids, np.bincount(ids, minlength=num_codes)


def redundancy_of(codebook, counts):
    distinct, median_cosine = codebook_redundancy(codebook, counts)
    return {
        "used_share": float(np.mean(counts > 0)),
        "distinct_share": distinct / len(codebook),
        "median_nearest_code_cosine": median_cosine,
    }


def latent_codebook_reference(model, images, iterations=30, seed=0):
    """The trained codebook against spherical k-means with as many codes, on the l2-normalized
    lookup-space latents of `images`: used and distinct shares, median nearest-code cosine, and
    the mean squared distance of a latent to its code (on the unit sphere: 2 - 2 cos). For a
    quantizer without l2-normalization this is the cosine view of it, not its own assignment."""
    latents = unit_latents(model, images)
    codebook = unit(ops.convert_to_numpy(model.quantizer.codebook).astype("float64"))
    ids, cosines = assign(latents, codebook)
    trained = redundancy_of(codebook, np.bincount(ids, minlength=len(codebook)))
    trained["quantization_error"] = float(np.mean(2.0 - 2.0 * cosines))
    centroids, counts = spherical_kmeans(latents, len(codebook), iterations, seed)
    kmeans = redundancy_of(centroids, counts)
    kmeans["quantization_error"] = float(np.mean(2.0 - 2.0 * assign(latents, centroids)[1]))
    return {"latents": len(latents), "trained_codebook": trained, "kmeans_codebook": kmeans}
