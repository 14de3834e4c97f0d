"""Stage-2 inputs: images turned into token ids by a frozen tokenizer, once, cached on disk.

Two ways to feed the VIM prior:

- `tokenize_dataset` (the default of `recipes/train_vim.py`): run the tokenizer once over the
  data, keep the ids `(N, h, w)` (and labels) in memory and in a `.npz` cache, then train from
  `token_dataset(ids, labels)`. Fast: the tokenizer never runs during training. The cache
  records a fingerprint of the tokenizer (config and weights) and a data key, and is rebuilt
  when either changes.
- `tokenize_on_the_fly`: a Python generator that encodes each image batch as it is drawn, for
  data augmented before tokenizing (the paper's stage-2 setting) or too large to cache. Keras
  accepts Python generators on every backend; the tokenizer runs compiled
  (`keras_vim.utils.compiled.compile_function`) but outside the `tf.data` graph, since a JAX or
  PyTorch model cannot run inside it.
"""

import hashlib
import json
import os
import time
import weakref

import keras
import numpy as np

from keras_vim.data.shuffling import shuffle_and_repeat
from keras_vim.utils.batches import call_padded
from keras_vim.utils.checks import check_id_range, check_integer
from keras_vim.utils.compiled import compiled_function

CACHE_FORMAT = 1


def tokenizer_fingerprint(tokenizer):
    """A short hash of a tokenizer's configuration and weights (what its ids depend on)."""
    digest = hashlib.sha256()
    digest.update(json.dumps(tokenizer.get_config(), sort_keys=True, default=str).encode())
    for weight in tokenizer.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()[:16]


def _split_batch(batch):
    if isinstance(batch, dict):
        return batch["images"], batch.get("labels")
    if isinstance(batch, (tuple, list)):
        if len(batch) == 1:
            return batch[0], None
        return batch[0], batch[1]
    return batch, None


def _batches(dataset, labels, batch_size):
    """Yields numpy `(images, labels-or-None)` batches from a dataset or in-memory arrays."""
    if isinstance(dataset, np.ndarray):
        if labels is not None and len(labels) != len(dataset):
            raise ValueError(
                f"`labels` has {len(labels)} entries but there are {len(dataset)} images."
            )
        for start in range(0, len(dataset), batch_size):
            yield (
                dataset[start : start + batch_size],
                None if labels is None else np.asarray(labels[start : start + batch_size]),
            )
        return
    if labels is not None:
        raise ValueError("`labels` is only used with in-memory image arrays.")
    for batch in dataset:
        images, batch_labels = _split_batch(batch)
        yield (
            np.asarray(images),
            None if batch_labels is None else np.asarray(batch_labels),
        )


# The largest batch each tokenizer's data encoder has seen (an int; the compiled encoder itself
# is kept on the tokenizer, see `keras_vim.utils.compiled`).
_LARGEST_BATCH = weakref.WeakKeyDictionary()


def make_encoder(tokenizer):
    """`tokenizer.encode`, compiled for the backend: images -> int32 ids as numpy.

    Batches smaller than the largest one seen are padded to its size, so a dataset
    whose last batch is short compiles one shape, not two.
    """
    encode = compiled_function(tokenizer, "data_encoder", lambda: tokenizer.encode)

    def run(images):
        # Values are checked here, on the host: the compiled `encode` cannot read them.
        images = np.asarray(tokenizer.check_images(np.asarray(images)))
        count = len(images)
        largest = max(_LARGEST_BATCH.get(tokenizer, 0), count)
        _LARGEST_BATCH[tokenizer] = largest
        if not count:
            return keras.ops.convert_to_numpy(encode(keras.ops.convert_to_tensor(images)))
        return call_padded(
            lambda batch: encode(keras.ops.convert_to_tensor(batch)), (images,), largest
        )

    return run


def _load_cache(path, fingerprint, key):
    """The cached `(ids, labels)`, or None with the reason it cannot be used."""
    try:
        with np.load(path, allow_pickle=False) as cache:
            meta = json.loads(str(cache["meta"]))
            if meta.get("format") != CACHE_FORMAT:
                return None, "it has an old format"
            if meta.get("tokenizer") != fingerprint:
                return None, "it was made by a different tokenizer"
            if meta.get("key") != key:
                return None, f"it was made from other data ({meta.get('key')!r})"
            ids = cache["ids"].astype("int32")
            labels = cache["labels"].astype("int32") if "labels" in cache else None
            return (ids, labels), None
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as error:
        return None, f"it cannot be read ({error})"


def tokenize_dataset(
    tokenizer,
    dataset,
    cache_path=None,
    labels=None,
    key=None,
    batch_size=256,
    overwrite=False,
    verbose=True,
):
    """Encodes every image of `dataset` with `tokenizer` once; optionally caches the result.

    Args:
        tokenizer: a `keras_vim.models.VitVQGAN` (frozen: run in inference mode).
        dataset: a finite `tf.data.Dataset` (or any iterable) of image batches or
            `(images, labels)` batches, or an in-memory array of images `(N, H, W, C)`.
        cache_path: optional `.npz` path. If it holds ids made by the same tokenizer (same
            config and weights) from data with the same `key`, they are loaded instead of
            recomputed; otherwise the ids are computed and written there.
        labels: labels `(N,)` of in-memory images.
        key: a string naming the data (e.g. `"fashion_mnist/train"`), stored in the cache and
            compared on load; default the number of images of an in-memory array, else "".
        batch_size: images per tokenizer call, for in-memory arrays.
        overwrite: recompute even when the cache is valid.
        verbose: print what happens.

    Returns:
        `(ids, labels)`: int32 numpy token ids `(N, h, w)` and int32 labels `(N,)`, or None
        when the data has no labels.

    Example:
    >>> tokenizer = keras_vim.models.VitVQGAN.from_preset("vit_vqgan_tiny")
    >>> ids, labels = keras_vim.data.tokenize_dataset(
    ...     tokenizer, np.zeros((4, 32, 32, 1), "float32"), labels=np.arange(4))
    >>> ids.shape, labels.tolist()
    ((4, 8, 8), [0, 1, 2, 3])
    """
    batch_size = check_integer("batch_size", batch_size, minimum=1)
    if key is None:
        key = f"array:{len(dataset)}" if isinstance(dataset, np.ndarray) else ""
    fingerprint = tokenizer_fingerprint(tokenizer) if cache_path else None
    if cache_path and os.path.exists(cache_path) and not overwrite:
        cached, reason = _load_cache(cache_path, fingerprint, key)
        if cached is not None:
            if verbose:
                print(f"loaded {len(cached[0])} tokenized images from {cache_path}", flush=True)
            return cached
        if verbose:
            print(f"re-tokenizing: the cache {cache_path} is stale ({reason})", flush=True)

    encode = make_encoder(tokenizer)
    start = time.time()
    all_ids, all_labels = [], []
    for images, batch_labels in _batches(dataset, labels, batch_size):
        all_ids.append(encode(images).astype("int32"))
        if batch_labels is not None:
            if not np.issubdtype(batch_labels.dtype, np.integer):
                raise TypeError(
                    f"`labels` must be integer class ids, got dtype {batch_labels.dtype}."
                )
            all_labels.append(batch_labels.astype("int32").reshape(-1))
    if not all_ids:
        raise ValueError("`dataset` holds no images.")
    if all_labels and len(all_labels) != len(all_ids):
        raise ValueError("Some batches of `dataset` have labels and others do not.")
    ids = np.concatenate(all_ids)
    labels = np.concatenate(all_labels) if all_labels else None
    if verbose:
        print(
            f"tokenized {len(ids)} images into {ids.shape[1]}x{ids.shape[2]} ids in "
            f"{time.time() - start:.1f}s",
            flush=True,
        )
    if cache_path:
        directory = os.path.dirname(os.path.abspath(cache_path))
        os.makedirs(directory, exist_ok=True)
        meta = {"format": CACHE_FORMAT, "tokenizer": fingerprint, "key": key}
        storage = "uint16" if tokenizer.num_codes <= 2**16 else "int32"
        arrays = {"ids": ids.astype(storage), "meta": np.array(json.dumps(meta))}
        if labels is not None:
            arrays["labels"] = labels
        temporary = cache_path + ".tmp.npz"
        np.savez_compressed(temporary, **arrays)
        os.replace(temporary, cache_path)
        if verbose:
            print(f"cached the ids in {cache_path}", flush=True)
    return ids, labels


def token_dataset(
    ids,
    labels=None,
    batch_size=64,
    shuffle=True,
    seed=0,
    repeat=False,
    drop_remainder=False,
):
    """A batched `tf.data.Dataset` of token ids `(B, h, w)` or `(ids, labels)` for `VIM.fit`.

    Example:
    >>> ds = keras_vim.data.token_dataset(np.zeros((10, 8, 8), "int32"), batch_size=4)
    >>> next(iter(ds)).shape
    TensorShape([4, 8, 8])
    """
    import tensorflow as tf

    ids = np.asarray(ids)
    if ids.ndim != 3:
        raise ValueError(f"`ids` must have shape (N, h, w), got {ids.shape}.")
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"`ids` must be integers, got dtype {ids.dtype}.")
    check_id_range("ids", ids)
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (len(ids),):
            raise ValueError(f"`labels` must have shape ({len(ids)},), got {labels.shape}.")
        if not np.issubdtype(labels.dtype, np.integer):
            raise TypeError(f"`labels` must be integer class ids, got dtype {labels.dtype}.")
        check_id_range("labels", labels)
        labels = labels.astype("int32")
    batch_size = check_integer("batch_size", batch_size, minimum=1)
    seed = check_integer("seed", seed, allow_none=True)
    data = ids.astype("int32") if labels is None else (ids.astype("int32"), labels)
    dataset = tf.data.Dataset.from_tensor_slices(data)
    dataset = shuffle_and_repeat(dataset, shuffle, len(ids), seed, repeat)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    return dataset.prefetch(tf.data.AUTOTUNE)


def tokenize_on_the_fly(tokenizer, dataset):
    """Yields `(ids,)` or `(ids, labels)` numpy batches, encoding each image batch when drawn.

    Pass the generator to `VIM.fit` with `steps_per_epoch` (use a repeating `dataset`, e.g.
    with augmentation, so every epoch sees new tokens). Slower than `tokenize_dataset`: the
    tokenizer runs at every step. Unlabelled batches come as 1-tuples: Keras takes a
    generator's elements as `(x,)`, `(x, y)` or `(x, y, sample_weight)`, never a bare array.
    """
    encode = make_encoder(tokenizer)
    for images, labels in _batches(dataset, None, None):
        ids = encode(images).astype("int32")
        yield (ids,) if labels is None else (ids, labels.astype("int32"))
