"""tf.data input pipelines that feed `model.fit` on every Keras backend.

TensorFlow runs only the input side (imported lazily, on first use); the
batches it yields are consumed by JAX, PyTorch or TensorFlow models alike.
Images leave every pipeline as float32 in [0, 1] with shape `(H, W, C)`.
"""

import keras
import numpy as np

from keras_vim.data.fashion_mnist import load_fashion_mnist
from keras_vim.data.image_files import find_image_files
from keras_vim.data.shuffling import shuffle_and_repeat
from keras_vim.utils.checks import check_image_values, check_integer

# Largest random shift of the augmentation, as a fraction of the side (2 px at 32 px).
_MAX_SHIFT = 0.0625


def image_dataset(
    images,
    labels=None,
    batch_size=64,
    image_size=None,
    shuffle=True,
    augment=False,
    seed=0,
    drop_remainder=False,
    repeat=False,
):
    """Builds a batched `tf.data.Dataset` from in-memory images.

    Args:
        images: numpy array `(N, H, W)` or `(N, H, W, C)`, uint8 in 0..255 or
            float in [0, 1].
        labels: optional integer array `(N,)`; when given, batches are
            `(images, labels)` with int32 labels.
        batch_size: images per batch.
        image_size: optional `(height, width)`; images are center-cropped to that
            aspect ratio, then resized (bilinear, antialiased).
        shuffle: reshuffle all examples every epoch (with `seed`).
        augment: random horizontal flips and shifts of up to 1/16 of the side,
            with `keras.layers.RandomFlip` and `keras.layers.RandomTranslation`.
        seed: integer seed of the shuffle and the augmentation, or `None`.
        drop_remainder: drop the last, smaller batch.
        repeat: repeat forever (then pass `steps_per_epoch` to `fit`).

    Returns:
        A `tf.data.Dataset` of float32 image batches `(B, H, W, C)` in [0, 1],
        or of `(images, labels)` pairs.

    Example:

    >>> images = np.zeros((10, 28, 28), dtype="uint8")
    >>> ds = image_dataset(images, batch_size=4, image_size=(32, 32))
    >>> next(iter(ds)).shape
    TensorShape([4, 32, 32, 1])
    """
    import tensorflow as tf

    images = _check_images(images)
    labels = _check_labels(labels, len(images))
    batch_size = check_integer("batch_size", batch_size, minimum=1)
    seed = check_integer("seed", seed, allow_none=True)
    image_size = _check_image_size(image_size)

    ds = tf.data.Dataset.from_tensor_slices(images if labels is None else (images, labels))
    ds = shuffle_and_repeat(ds, shuffle, len(images), seed, repeat)
    # Batching first lets the conversion and resizing run on whole batches.
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = _map_images(ds, lambda x: _prepare(x, image_size))
    return _finish(ds, augment, seed)


def default_dataset(split="train", batch_size=64, source="auto", labels=True, path=None, **kwargs):
    """The default dataset, Fashion-MNIST at 32x32x1, as a batched `tf.data.Dataset`.

    Args:
        split: `"train"` or `"test"`.
        batch_size: images per batch.
        source: where the data comes from; see `load_fashion_mnist`.
        labels: yield `(images, labels)` batches instead of images alone.
        path: optional directory or `.npz` file; see `load_fashion_mnist`.
        **kwargs: passed to `image_dataset` (`shuffle` defaults to
            `split == "train"`).

    Returns:
        A `tf.data.Dataset` of float32 batches `(B, 32, 32, 1)` in [0, 1]
        (with int32 labels in 0..9 when `labels=True`).

    Example:

    >>> ds = default_dataset("test", batch_size=8, labels=False, source="subset")
    >>> next(iter(ds)).shape
    TensorShape([8, 32, 32, 1])
    """
    images, class_ids = load_fashion_mnist(split, source=source, path=path)
    kwargs.setdefault("shuffle", split == "train")
    return image_dataset(images, class_ids if labels else None, batch_size=batch_size, **kwargs)


def folder_dataset(
    directory,
    image_size,
    batch_size=64,
    labels=True,
    on_error="skip",
    channels=3,
    shuffle=True,
    augment=False,
    seed=0,
    drop_remainder=False,
    repeat=False,
):
    """Streams an image folder as a batched `tf.data.Dataset`.

    The folder either has one subfolder per class (ids follow the sorted
    subfolder names) or holds the images directly (then pass `labels=False`).
    Files are listed and checked by `find_image_files`, then decoded with
    `tf.io` while iterating.

    Args:
        directory: the image folder.
        image_size: `(height, width)`; each image is center-cropped to that
            aspect ratio, then resized.
        batch_size: images per batch.
        labels: yield `(images, labels)`; needs class subfolders.
        on_error: `"skip"` warns about each unreadable file (naming it) and
            leaves it out; `"raise"` raises a `ValueError` naming it.
        channels: 1 (grayscale) or 3 (RGB; grayscale images are repeated).
        shuffle: reshuffle the files every epoch (with `seed`).
        augment: random flips and small shifts, as in `image_dataset`.
        seed: integer seed of the shuffle and the augmentation, or `None`.
        drop_remainder: drop the last, smaller batch.
        repeat: repeat forever.

    Returns:
        `(dataset, class_names)`: a `tf.data.Dataset` of float32 batches
        `(B, height, width, channels)` in [0, 1] (or `(images, labels)` pairs
        with int32 labels), and the list of class names, whose positions are
        the label ids (empty for a flat folder).

    Example:

    >>> ds, class_names = folder_dataset("flowers/", image_size=(64, 64))
    >>> images, labels = next(iter(ds))
    """
    import tensorflow as tf

    image_size = _check_image_size(image_size, required=True)
    batch_size = check_integer("batch_size", batch_size, minimum=1)
    seed = check_integer("seed", seed, allow_none=True)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3; got {channels!r}")
    paths, class_ids, class_names = find_image_files(directory, on_error=on_error)
    if labels and not class_names:
        raise ValueError(
            f"{directory} has no class subfolders, so there are no labels; "
            "pass labels=False for a flat folder of images"
        )

    def load(path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        if channels == 1:
            image = tf.image.rgb_to_grayscale(image)
        image.set_shape([None, None, channels])
        return _prepare(image, image_size)

    ds = tf.data.Dataset.from_tensor_slices((paths, class_ids) if labels else paths)
    ds = shuffle_and_repeat(ds, shuffle, len(paths), seed, repeat)
    ds = _map_images(ds, load)
    if on_error == "skip":
        # A file that changed or broke after the check must not stop a long run.
        ds = ds.ignore_errors(log_warning=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    return _finish(ds, augment, seed), class_names


def tfds_dataset(
    name,
    split="train",
    image_size=(32, 32),
    batch_size=64,
    data_dir=None,
    image_key="image",
    label_key="label",
    labels=True,
    shuffle=True,
    augment=False,
    seed=0,
    drop_remainder=False,
    repeat=False,
    download=True,
    shuffle_buffer=10_000,
):
    """A TensorFlow Datasets dataset as a batched `tf.data.Dataset` of images.

    `tensorflow_datasets` is imported on first use. Grayscale images keep one
    channel.

    Args:
        name: a registered TFDS name (e.g. `"cifar10"`, `"oxford_flowers102"`)
            or a prepared `tfds.core.DatasetBuilder`.
        split: TFDS split string, e.g. `"train"` or `"test[:10%]"`.
        image_size: `(height, width)`; images are center-cropped to that aspect
            ratio and resized. `None` keeps the stored size (it must be fixed).
        batch_size: images per batch.
        data_dir: TFDS data directory (default `~/tensorflow_datasets`).
        image_key: name of the image feature.
        label_key: name of the label feature.
        labels: yield `(images, labels)` batches with int32 labels.
        shuffle: shuffle the files and a buffer of `shuffle_buffer` examples.
        augment: random flips and small shifts, as in `image_dataset`.
        seed: integer seed of the shuffles and the augmentation, or `None`.
        drop_remainder: drop the last, smaller batch.
        repeat: repeat forever.
        download: let TFDS download and prepare the dataset if it is missing.
        shuffle_buffer: examples held (decoded) in the shuffle buffer.

    Returns:
        A `tf.data.Dataset` of float32 batches `(B, height, width, C)` in
        [0, 1], or of `(images, labels)` pairs.

    Example:

    >>> ds = tfds_dataset("cifar10", split="test", batch_size=16, labels=False)
    >>> next(iter(ds)).shape
    TensorShape([16, 32, 32, 3])
    """
    import tensorflow as tf
    import tensorflow_datasets as tfds

    image_size = _check_image_size(image_size)
    batch_size = check_integer("batch_size", batch_size, minimum=1)
    shuffle_buffer = check_integer("shuffle_buffer", shuffle_buffer, minimum=1)
    seed = check_integer("seed", seed, allow_none=True)
    read_config = tfds.ReadConfig(shuffle_seed=seed)
    if isinstance(name, str):
        ds = tfds.load(
            name,
            split=split,
            data_dir=data_dir,
            download=download,
            shuffle_files=shuffle,
            read_config=read_config,
        )
    else:
        ds = name.as_dataset(split=split, shuffle_files=shuffle, read_config=read_config)

    spec = ds.element_spec
    features = sorted(spec) if isinstance(spec, dict) else []
    keys = [("image_key", image_key)] + ([("label_key", label_key)] if labels else [])
    for arg, key in keys:
        if key not in features:
            raise ValueError(f"{arg}={key!r} is not a feature of {name}; features: {features}")
    rank = spec[image_key].shape.rank
    if rank not in (2, 3):
        raise ValueError(f"Feature {image_key!r} must hold single images; got shape {spec}")

    def prepare(example):
        image = example[image_key]
        if rank == 2:
            image = image[..., None]
        image = _prepare(image, image_size)
        if labels:
            return image, tf.cast(example[label_key], tf.int32)
        return image

    # Keep only the needed features in the shuffle buffer.
    ds = ds.map(lambda example: {key: example[key] for _, key in keys})
    ds = shuffle_and_repeat(ds, shuffle, shuffle_buffer, seed, repeat)
    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    return _finish(ds, augment, seed)


def _check_image_size(image_size, required=False):
    if image_size is None:
        if required:
            raise ValueError("image_size is required: pass (height, width)")
        return None
    if isinstance(image_size, str) or not hasattr(image_size, "__len__") or len(image_size) != 2:
        raise ValueError(
            f"image_size must be (height, width) positive integers; got {image_size!r}"
        )
    return tuple(check_integer("image_size", size, minimum=1) for size in image_size)


def _check_images(images):
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or 0 in images.shape:
        raise ValueError(
            f"images must be a non-empty array of shape (N, H, W) or (N, H, W, C); "
            f"got shape {images.shape}"
        )
    if images.dtype == np.uint8:
        return images
    # Other integer types would be scaled by their own range (convert_image_dtype).
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(
            f"`images` must be uint8 (0..255) or float in [0, 1]; got dtype {images.dtype}"
        )
    images = images.astype(np.float32, copy=False)
    check_image_values("images", images)
    return images


def _check_labels(labels, n):
    if labels is None:
        return None
    labels = np.asarray(labels)
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be an integer array of shape ({n},) matching images; "
            f"got {labels.dtype} {labels.shape}"
        )
    return labels.astype(np.int32)


def _map_images(ds, fn, parallel=True):
    """Applies `fn` to the images of a dataset of images or `(images, labels)`."""
    import tensorflow as tf

    calls = tf.data.AUTOTUNE if parallel else None
    if isinstance(ds.element_spec, tuple):
        return ds.map(lambda x, y: (fn(x), y), num_parallel_calls=calls)
    return ds.map(fn, num_parallel_calls=calls)


def _prepare(images, image_size):
    """Converts an image or a batch to float32 in [0, 1], cropped and resized if asked."""
    import tensorflow as tf

    images = tf.image.convert_image_dtype(images, tf.float32)
    if image_size is None:
        return images
    target_h, target_w = image_size
    shape = tf.shape(images)
    h, w = shape[-3], shape[-2]
    # The largest centred window with the target aspect ratio, so resizing does not distort.
    crop_h = tf.cast(tf.round(tf.cast(w, tf.float64) * target_h / target_w), tf.int32)
    crop_w = tf.cast(tf.round(tf.cast(h, tf.float64) * target_w / target_h), tf.int32)
    crop_h = tf.clip_by_value(crop_h, 1, h)
    crop_w = tf.clip_by_value(crop_w, 1, w)
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    images = images[..., top : top + crop_h, left : left + crop_w, :]
    images = tf.image.resize(images, image_size, method="bilinear", antialias=True)
    return tf.clip_by_value(images, 0.0, 1.0)


def _finish(ds, augment, seed):
    import tensorflow as tf

    if augment:
        # float32 whatever the global dtype policy; the model casts its own inputs.
        flip = keras.layers.RandomFlip("horizontal", seed=seed, dtype="float32")
        shift = keras.layers.RandomTranslation(
            _MAX_SHIFT,
            _MAX_SHIFT,
            fill_mode="reflect",
            interpolation="nearest",
            seed=None if seed is None else seed + 1,
            dtype="float32",
        )
        # Sequential map: the layers' random state advances in a fixed order, so a seed
        # reproduces the same augmentations.
        ds = _map_images(ds, lambda x: shift(flip(x, training=True), training=True), parallel=False)
    return ds.prefetch(tf.data.AUTOTUNE)
