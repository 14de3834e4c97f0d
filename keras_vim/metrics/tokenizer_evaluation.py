"""A tokenizer's reconstruction quality and codebook use over a whole dataset, streamed."""

import numpy as np
from keras import ops

from keras_vim.metrics.batches import image_batches
from keras_vim.metrics.codebook import USAGE_BATCH, CodebookStatistics
from keras_vim.metrics.fid_inception import FIDInception
from keras_vim.metrics.frechet import frechet_distance
from keras_vim.metrics.reconstruction import (
    per_image_l1,
    per_image_l2,
    per_image_logit_laplace_nll,
    psnr,
)
from keras_vim.metrics.ssim import ssim
from keras_vim.utils.batches import call_padded

# SSIM's window size: smaller images get no SSIM.
SSIM_WINDOW = 11


def _feature_function(feature_extractor):
    if feature_extractor is None:
        return None
    if isinstance(feature_extractor, FIDInception):
        # Its own batches of 50 (padded): 299x299 activations of 256 images take gigabytes.
        from keras_vim.metrics.fid import _check_inception, inception_outputs

        _check_inception(feature_extractor)
        return lambda images: inception_outputs(feature_extractor, images)["pool"]
    if not callable(feature_extractor):
        raise TypeError(
            "`feature_extractor` must be a FIDInception or a callable images -> features, got "
            f"{type(feature_extractor).__name__}."
        )
    return feature_extractor


def _round_trip(tokenizer, images):
    """ids, reconstructions and (for a logit-Laplace decoder) the per-image NLL of a batch."""
    if getattr(tokenizer, "logit_laplace", False) and hasattr(tokenizer, "forward_outputs"):
        outputs = tokenizer.forward_outputs(
            tokenizer.prepare_images(tokenizer.check_images(images)), training=False
        )
        nll = per_image_logit_laplace_nll(images, outputs["location"], outputs["log_scale"])
        ids = ops.reshape(outputs["ids"], (len(images), -1))
        return ids, outputs["reconstruction"], nll
    ids = tokenizer.encode(images)
    return ids, tokenizer.decode(ids), None


def _padded_round_trip(tokenizer, images, batch_size):
    # Every call has one shape: on JAX each new shape costs a compilation of every op.
    return call_padded(lambda batch: _round_trip(tokenizer, batch), (images,), batch_size)


def evaluate_tokenizer(
    tokenizer,
    images,
    batch_size=USAGE_BATCH,
    usage_batch_size=USAGE_BATCH,
    max_images=None,
    feature_extractor=None,
):
    """Encodes and decodes a dataset batch by batch and measures the round trip.

    Args:
        tokenizer: a `VitVQGAN`, or any object with `encode(images) -> ids`, `decode(ids) ->
            images` and `num_codes`.
        images: float images in [0, 1] (or uint8) `(N, H, W, C)`, or a batched `tf.data.Dataset`
            of images or `(images, labels)` (see `keras_vim.metrics.image_batches`).
        batch_size: images per encode/decode call.
        usage_batch_size: images per batch of the paper's codebook usage (256).
        max_images: evaluate the first `max_images` images only.
        feature_extractor: optional `FIDInception` (its pool features) or callable `images ->
            (B, d) features`; then the Fréchet distance between the features of the images and
            of their reconstructions is reported too (reconstruction FID with a `FIDInception`).

    Returns:
        A dict of Python numbers: `images` (count); the means over images of `l1`, `l2` (MSE),
        `psnr` (dB) and `ssim` (images of at least 11x11); `logit_laplace_nll` (nats per
        sub-pixel, logit-Laplace tokenizers only); `codebook_usage` (the paper's),
        `codebook_usage_batches`, `codebook_usage_total`, `dead_codes`, `perplexity`,
        `codes_for_90_percent` and, for a tokenizer with a `quantizer`, the redundancy
        measures `distinct_code_usage` and `median_nearest_code_cosine` (see
        `CodebookStatistics`), `num_codes`; and `frechet_distance` with a `feature_extractor`.

    Example:

    ```python
    test, _ = keras_vim.data.load_dataset("fashion_mnist", split="test", batch_size=256,
                                          shuffle=False)
    report = keras_vim.metrics.evaluate_tokenizer(tokenizer, test)
    report["psnr"], report["codebook_usage"], report["dead_codes"]
    ```
    """
    if not hasattr(tokenizer, "encode") or not hasattr(tokenizer, "decode"):
        raise TypeError(
            "`tokenizer` must have `encode` and `decode` methods (e.g. a VitVQGAN), got "
            f"{type(tokenizer).__name__}."
        )
    features = _feature_function(feature_extractor)
    quantizer = getattr(tokenizer, "quantizer", None)
    codebook = quantizer.normalized_codebook() if quantizer is not None else None
    codes = CodebookStatistics(int(tokenizer.num_codes), usage_batch_size, codebook=codebook)
    sums = {}
    nll_sum, count = None, 0
    features_a, features_b = [], []
    for batch in image_batches(images, batch_size, max_images, name="images"):
        ids, reconstructions, nll = _padded_round_trip(tokenizer, batch, batch_size)
        codes.update(ids)
        values = {
            "l1": per_image_l1(batch, reconstructions),
            "l2": per_image_l2(batch, reconstructions),
            "psnr": psnr(batch, reconstructions),
        }
        if min(batch.shape[1:3]) >= SSIM_WINDOW:  # SSIM needs one full window
            values["ssim"] = ssim(batch, reconstructions)
        for name, value in values.items():
            sums[name] = sums.get(name, 0.0) + float(
                np.sum(ops.convert_to_numpy(value), dtype="float64")
            )
        if nll is not None:
            nll_sum = (nll_sum or 0.0) + float(np.sum(ops.convert_to_numpy(nll), dtype="float64"))
        if features is not None:
            features_a.append(np.asarray(ops.convert_to_numpy(features(batch))))
            reconstructions = np.asarray(ops.convert_to_numpy(reconstructions), "float32")
            features_b.append(np.asarray(ops.convert_to_numpy(features(reconstructions))))
        count += len(batch)
    if not count:
        raise ValueError("`images` holds no images.")
    report = {"images": count, **{name: total / count for name, total in sums.items()}}
    if nll_sum is not None:
        report["logit_laplace_nll"] = nll_sum / count
    report.update(codes.result())
    report["num_codes"] = codes.num_codes
    if features is not None:
        report["frechet_distance"] = frechet_distance(
            np.concatenate(features_a), np.concatenate(features_b)
        )
    return report


def tokenizer_report(model, images, batch_size=USAGE_BATCH):
    """`evaluate_tokenizer` of `images` with usage measured per batch of `batch_size` images."""
    return evaluate_tokenizer(model, images, batch_size=batch_size, usage_batch_size=batch_size)
