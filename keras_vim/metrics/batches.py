"""Streaming images out of an array or a dataset, in batches of a fixed size."""

import numpy as np

from keras_vim.utils.checks import check_image_values, check_integer


def _as_images(batch, name):
    if isinstance(batch, (tuple, list)):
        batch = batch[0]  # (images, labels) pairs: the images.
    elif isinstance(batch, dict):
        if "images" not in batch:
            raise ValueError(f"Dict elements of `{name}` need an 'images' key, got {list(batch)}.")
        batch = batch["images"]
    if not isinstance(batch, np.ndarray):
        from keras import ops

        batch = ops.convert_to_numpy(batch)
    if batch.ndim != 4:
        raise ValueError(
            f"`{name}` must yield image batches of shape (batch, height, width, channels), "
            f"got shape {batch.shape}. Batch a dataset of single images first."
        )
    if batch.dtype == np.uint8:
        return batch.astype("float32") / 255.0
    if not np.issubdtype(batch.dtype, np.floating):
        raise TypeError(f"`{name}` must hold float or uint8 images, got dtype {batch.dtype}.")
    # A little slack: resampled or low-precision images can overshoot [0, 1] by round-off.
    check_image_values(name, batch, tolerance=1e-3)
    return batch.astype("float32")


def image_batches(data, batch_size, max_images=None, name="images"):
    """Yields float32 image batches in `[0, 1]`, each of `batch_size` images but the last.

    Args:
        data: an array `(N, H, W, C)` (float in [0, 1] or uint8), or a batched `tf.data.Dataset`
            (or any iterable of batches) of images, `(images, labels)` pairs or dicts with an
            `"images"` key. The data's own batching does not matter: batches are re-cut to
            `batch_size`, so a compiled function sees one shape (and the last one).
        batch_size: images per yielded batch.
        max_images: stop after this many images (`None`: all).
        name: the argument's name in error messages.
    """
    batch_size = check_integer("batch_size", batch_size, minimum=1)
    max_images = check_integer("max_images", max_images, minimum=1, allow_none=True)
    if hasattr(data, "shape") and hasattr(data, "dtype"):
        source = (data[start : start + batch_size] for start in range(0, len(data), batch_size))
    elif hasattr(data, "as_numpy_iterator"):
        source = data.as_numpy_iterator()
    elif hasattr(data, "__iter__"):
        source = iter(data)
    else:
        raise TypeError(
            f"`{name}` must be an image array or an iterable of image batches (e.g. a "
            f"tf.data.Dataset), got {type(data).__name__}."
        )
    pending, pending_size, seen = [], 0, 0
    for batch in source:
        batch = _as_images(batch, name)
        if max_images is not None:
            batch = batch[: max_images - seen]
        seen += len(batch)
        pending.append(batch)
        pending_size += len(batch)
        while pending_size >= batch_size:
            joined = np.concatenate(pending)
            yield joined[:batch_size]
            pending, pending_size = [joined[batch_size:]], pending_size - batch_size
        if max_images is not None and seen >= max_images:
            break
    if pending_size:
        yield np.concatenate(pending)
