"""One entry point for the recipes: a data flag -> a batched dataset and what it holds."""

import os

from keras_vim.data.fashion_mnist import CLASS_NAMES
from keras_vim.data.pipeline import default_dataset, folder_dataset, tfds_dataset

DEFAULT_DATA = "fashion_mnist"


def load_dataset(
    data=DEFAULT_DATA,
    split="train",
    image_size=None,
    batch_size=64,
    labels=True,
    channels=3,
    **kwargs,
):
    """Builds a batched `tf.data.Dataset` from a data flag.

    Args:
        data: `"fashion_mnist"` (the default dataset, 32x32x1), a directory of images (one
            subfolder per class), or `"tfds:NAME"` for a TensorFlow Datasets name you have
            prepared (e.g. `"tfds:celeb_a_hq/256"`).
        split: `"train"` or `"test"`. An image folder has no splits: both read the folder.
        image_size: `(height, width)` for folders and TFDS (default 32x32); Fashion-MNIST
            is always 32x32.
        batch_size: images per batch.
        labels: yield `(images, labels)`.
        channels: channels of folder images (TFDS keeps the stored channels).
        **kwargs: passed to the pipeline (`shuffle`, `augment`, `repeat`, `seed`, ...).

    Returns:
        `(dataset, info)`; `info` has `"name"`, `"class_names"` (or None) and `"channels"`.

    Example:
    >>> ds, info = keras_vim.data.load_dataset("fashion_mnist", split="test", batch_size=8)
    >>> info["channels"], info["class_names"][0]
    (1, 'T-shirt/top')
    """
    if not isinstance(data, str) or not data:
        raise TypeError(f"`data` must be a non-empty string, got {data!r}.")
    if split not in ("train", "test"):
        raise ValueError(f"`split` must be 'train' or 'test', got {split!r}.")
    if data == DEFAULT_DATA:
        if image_size not in (None, (32, 32), [32, 32]):
            raise ValueError(f"Fashion-MNIST is 32x32; got `image_size`={image_size!r}.")
        dataset = default_dataset(split, batch_size=batch_size, labels=labels, **kwargs)
        return dataset, {"name": data, "class_names": list(CLASS_NAMES), "channels": 1}
    image_size = tuple(image_size or (32, 32))
    if data.startswith("tfds:"):
        name = data[len("tfds:") :]
        dataset = tfds_dataset(
            name,
            split=split,
            image_size=image_size,
            batch_size=batch_size,
            labels=labels,
            **kwargs,
        )
        channels = int(
            dataset.element_spec[0].shape[-1] if labels else dataset.element_spec.shape[-1]
        )
        return dataset, {"name": data, "class_names": None, "channels": channels}
    if os.path.isdir(data):
        dataset, class_names = folder_dataset(
            data, image_size, batch_size=batch_size, labels=labels, channels=channels, **kwargs
        )
        return dataset, {"name": data, "class_names": class_names, "channels": channels}
    raise ValueError(
        f"`data`={data!r} is neither 'fashion_mnist', 'tfds:NAME' nor an existing directory."
    )
