"""Loading what the recipes take by name: a model from a file or preset, the images of a split."""

import os

import keras
import numpy as np

from keras_vim.data.sources import load_dataset
from keras_vim.utils.checks import check_integer, check_tokenizer_matches


def load_model(cls, source):
    """A `cls` model (e.g. `keras_vim.models.VQGANBase`) from a `.keras` file, a preset
    directory, a built-in preset name or an hf:// / kaggle:// handle.

    Called on a base class, a preset loads whichever subclass it holds (see
    `from_preset`); a `.keras` file holding another kind of model is a ValueError.
    """
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"`source` must be a .keras path, a preset directory or a preset name; got "
            f"{type(source).__name__} {source!r}."
        )
    source = os.fspath(source)
    if source.endswith(".keras"):
        model = keras.saving.load_model(source)
        if not isinstance(model, cls):
            raise ValueError(f"{source} holds a {type(model).__name__}, not a {cls.__name__}.")
        return model
    return cls.from_preset(source)


def load_tokenizer_and_prior(tokenizer_source, prior_source):
    """A tokenizer and the VIM prior of its tokens (each as `load_model` takes it); a
    ValueError when the prior models another grid or vocabulary."""
    from keras_vim.models import VIM, VQGANBase

    tokenizer = load_model(VQGANBase, tokenizer_source)
    prior = load_model(VIM, prior_source)
    check_tokenizer_matches(tokenizer, prior)
    return tokenizer, prior


def _square(image_size):
    if image_size is None:
        return None
    return (check_integer("image_size", image_size, minimum=1),) * 2


def split_dataset(
    data, split, limit=None, image_size=None, channels=3, labels=False, batch_size=256
):
    """The images of a split in file order (unshuffled batches of `batch_size`), the first
    `limit` only (None or 0: all), as a `tf.data.Dataset`; and the data's info.

    Args:
        data, split, channels: as in `keras_vim.data.load_dataset`.
        limit: the number of images to keep from the start of the split.
        image_size: the square side images are resized to (folders and TFDS), or None.
        labels: yield `(images, labels)` pairs.
        batch_size: images per batch.
    """
    limit = check_integer("limit", limit, minimum=0, allow_none=True)
    batch_size = check_integer("batch_size", batch_size, minimum=1)
    dataset, info = load_dataset(
        data,
        split,
        image_size=_square(image_size),
        batch_size=batch_size,
        labels=labels,
        channels=channels,
        shuffle=False,
    )
    if limit:
        dataset = dataset.unbatch().take(limit).batch(batch_size)
    return dataset, info


def first_images(
    data, split, limit=None, image_size=None, channels=3, labels=False, batch_size=256
):
    """The first `limit` images of a split (None or 0: all) as float32 numpy in [0, 1];
    with `labels` also their int32 labels (else None); and the data's info.

    Arguments as in `split_dataset`; returns `(images, labels, info)`.
    """
    dataset, info = split_dataset(data, split, limit, image_size, channels, labels, batch_size)
    images, classes = [], []
    for batch in dataset.as_numpy_iterator():
        if labels:
            batch, batch_labels = batch
            classes.append(batch_labels)
        images.append(batch)
    if not images:
        raise ValueError(f"The {split!r} split of {data!r} holds no images.")
    images = np.concatenate(images).astype("float32")
    return images, (np.concatenate(classes).astype("int32") if labels else None), info


def decode_in_batches(tokenizer, ids, batch_size=256):
    """The tokenizer's images (float32 numpy in [0, 1]) of token grids `ids` `(N, h, w)`,
    decoded `batch_size` grids at a time (all N at once would hold every decoder activation
    in memory)."""
    batch_size = check_integer("batch_size", batch_size, minimum=1)
    ids = np.asarray(ids)
    return np.concatenate(
        [
            np.asarray(
                keras.ops.convert_to_numpy(tokenizer.decode(ids[start : start + batch_size]))
            )
            for start in range(0, len(ids), batch_size)
        ]
    ).astype("float32")
