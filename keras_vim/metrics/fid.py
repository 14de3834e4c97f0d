"""FID and Inception Score of image sets with the FID Inception network."""

import numpy as np

from keras_vim.metrics.batches import image_batches
from keras_vim.metrics.fid_inception import FIDInception
from keras_vim.metrics.fid_inception_weights import FID_WEIGHTS_HELP
from keras_vim.metrics.frechet import frechet_distance
from keras_vim.metrics.inception_score import inception_score
from keras_vim.utils.batches import call_padded


def _check_inception(inception):
    if not isinstance(inception, FIDInception):
        raise TypeError(
            f"`inception` must be a FIDInception (see load_fid_inception), got "
            f"{type(inception).__name__}."
        )
    if not inception.weights_loaded():
        raise ValueError(f"`inception` still has its all-zero initial weights. {FID_WEIGHTS_HELP}")


def inception_outputs(inception, images, batch_size=50, max_images=None):
    """Runs a `FIDInception` over an image array or dataset, batch by batch.

    Args:
        inception: a `FIDInception` with loaded weights (`load_fid_inception`).
        images: array `(N, H, W, 1 or 3)` (float in [0, 1] or uint8) or a batched dataset of
            images or `(images, labels)` pairs; see `image_batches`.
        batch_size: images per network call. Every call gets this many images (the last batch
            is padded, then cut), so the compiled function is built once.
        max_images: use the first `max_images` images only.

    Returns:
        `{"pool": (N, 2048), "logits": (N, 1008)}` float32 numpy arrays.
    """
    _check_inception(inception)
    pools, logits = [], []
    for batch in image_batches(images, batch_size, max_images, name="images"):
        outputs = call_padded(inception.predict_on_batch, (batch,), batch_size)
        pools.append(outputs["pool"].astype("float32"))
        logits.append(outputs["logits"].astype("float32"))
    if not pools:
        raise ValueError("`images` holds no images.")
    return {"pool": np.concatenate(pools), "logits": np.concatenate(logits)}


def fid_from_features(features_a, features_b):
    """FID from two sets of FID Inception pool features `(n, 2048)`: their Fréchet distance."""
    return frechet_distance(features_a, features_b)


def fid(inception, images_a, images_b, batch_size=50, max_images=None):
    """FID between two image sets (arrays or datasets, see `inception_outputs`); a float.

    Example:

    ```python
    inception = keras_vim.metrics.load_fid_inception("pt_inception-2015-12-05-6726825d.pth")
    keras_vim.metrics.fid(inception, test_images, generated_images)
    ```
    """
    pool_a = inception_outputs(inception, images_a, batch_size, max_images)["pool"]
    pool_b = inception_outputs(inception, images_b, batch_size, max_images)["pool"]
    return fid_from_features(pool_a, pool_b)


def inception_score_of_images(inception, images, splits=10, batch_size=50, max_images=None):
    """Inception Score `(mean, std)` of an image set, from the FID Inception's 1008 logits."""
    logits = inception_outputs(inception, images, batch_size, max_images)["logits"]
    return inception_score(logits, splits=splits, from_logits=True)
