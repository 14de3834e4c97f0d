"""A tokenizer's reconstruction quality and codebook usage over a set of images."""

import numpy as np
from keras import ops

from keras_vim.layers.quantizer import codebook_perplexity, codebook_usage

# The paper measures usage on batches of 256 test images (Table 4).
USAGE_BATCH = 256


def psnr(images, reconstructions, max_value=1.0):
    """Peak signal-to-noise ratio in dB per image, `(N,)`, for images in [0, max_value]."""
    images = np.asarray(images, "float64")
    reconstructions = np.asarray(reconstructions, "float64")
    mse = np.mean((images - reconstructions) ** 2, axis=tuple(range(1, images.ndim)))
    return 10.0 * np.log10(max_value**2 / np.maximum(mse, 1e-12))


def tokenizer_report(model, images, batch_size=USAGE_BATCH):
    """Encodes and decodes `images` (float in [0, 1]) and measures the round trip.

    Returns a dict: `l2` (mean squared error), `l1`, `psnr` (dB, mean over images),
    `codebook_usage` (the paper's: share of codes used per batch of `batch_size` images,
    averaged), `codebook_usage_total` (share used by all images), `perplexity` and
    `dead_codes` (codes no image uses).
    """
    images = np.asarray(images, "float32")
    ids, reconstructions = [], []
    for start in range(0, len(images), batch_size):
        batch_ids = model.encode(images[start : start + batch_size])
        ids.append(ops.convert_to_numpy(batch_ids))
        reconstructions.append(ops.convert_to_numpy(model.decode(batch_ids)))
    ids = np.concatenate(ids)
    reconstructions = np.concatenate(reconstructions).astype("float32")
    # Only full batches count for the per-batch usage, as in the paper.
    full = [ids[s : s + batch_size] for s in range(0, len(ids) - batch_size + 1, batch_size)]
    per_batch = [float(codebook_usage(b, model.num_codes)) for b in full or [ids]]
    total_usage = float(codebook_usage(ids, model.num_codes))
    return {
        "images": int(len(images)),
        "l2": float(np.mean((images - reconstructions) ** 2)),
        "l1": float(np.mean(np.abs(images - reconstructions))),
        "psnr": float(np.mean(psnr(images, reconstructions))),
        "codebook_usage": float(np.mean(per_batch)),
        "codebook_usage_total": total_usage,
        "perplexity": float(codebook_perplexity(ids, model.num_codes)),
        "dead_codes": int(round((1.0 - total_usage) * model.num_codes)),
    }
