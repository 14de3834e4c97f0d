"""Tests of the tf.data pipelines (arrays, Fashion-MNIST, image folders, TFDS) on every backend."""

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from keras_vim.data import (
    default_dataset,
    find_image_files,
    folder_dataset,
    image_dataset,
    load_fashion_mnist,
    load_images,
    tfds_dataset,
)


def _collect(ds):
    """All batches of a dataset as numpy: images, or (images, labels)."""
    batches = [
        tuple(np.asarray(t) for t in b) if isinstance(b, tuple) else np.asarray(b) for b in ds
    ]
    if isinstance(batches[0], tuple):
        return tuple(np.concatenate(parts) for parts in zip(*batches, strict=True))
    return np.concatenate(batches)


def _indexed_images(n, size=8):
    """uint8 images whose every pixel holds the image's index, to track order."""
    return np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None], (n, size, size)).copy()


def test_uint8_images_become_unit_floats_in_order(rng):
    images = rng.integers(0, 256, size=(10, 6, 5, 3), dtype=np.uint8)
    ds = image_dataset(images, batch_size=4, shuffle=False)
    batches = [np.asarray(b) for b in ds]
    assert [b.shape for b in batches] == [(4, 6, 5, 3), (4, 6, 5, 3), (2, 6, 5, 3)]
    out = np.concatenate(batches)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, images / 255.0, atol=1e-6)
    assert out.min() >= 0.0 and out.max() <= 1.0

    dropped = [np.asarray(b) for b in image_dataset(images, batch_size=4, drop_remainder=True)]
    assert [len(b) for b in dropped] == [4, 4]


def test_float_images_pass_through_and_grayscale_gets_a_channel(rng):
    images = rng.uniform(size=(5, 7, 7)).astype(np.float64)
    out = _collect(image_dataset(images, batch_size=5, shuffle=False))
    assert out.shape == (5, 7, 7, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out[..., 0], images, atol=1e-6)


def test_shuffle_keeps_labels_with_their_images():
    n = 50
    labels = (np.arange(n) * 7) % 10
    ds = image_dataset(_indexed_images(n), labels, batch_size=16, seed=3)
    first, first_labels = _collect(ds)
    second, _ = _collect(ds)
    index = np.round(first[:, 0, 0, 0] * 255).astype(int)
    assert sorted(index) == list(range(n))
    assert list(index) != list(range(n))
    assert first_labels.dtype == np.int32
    np.testing.assert_array_equal(first_labels, labels[index])
    # A new order every epoch, and the same sequence of orders for the same seed.
    assert not np.array_equal(first, second)
    again, _ = _collect(image_dataset(_indexed_images(n), labels, batch_size=16, seed=3))
    np.testing.assert_array_equal(again, first)


def test_repeat_goes_past_one_epoch():
    ds = image_dataset(_indexed_images(6), batch_size=4, repeat=True, shuffle=False)
    batches = [np.asarray(b) for b in ds.take(4)]
    index = np.round(np.concatenate(batches)[:, 0, 0, 0] * 255).astype(int)
    np.testing.assert_array_equal(index, [0, 1, 2, 3, 4, 5] * 2 + [0, 1, 2, 3])


def test_resize_center_crops_to_keep_aspect():
    # A 20x40 image: black left and right quarters around a white 20x20 centre.
    images = np.zeros((3, 20, 40), dtype=np.uint8)
    images[:, :, 10:30] = 255
    out = _collect(image_dataset(images, batch_size=3, image_size=(10, 10), shuffle=False))
    assert out.shape == (3, 10, 10, 1)
    np.testing.assert_allclose(out, 1.0, atol=1e-6)

    # Landscape target from a square: the centre rows survive, top/bottom go.
    square = np.zeros((1, 40, 40, 3), dtype=np.uint8)
    square[:, 10:30] = 255
    out = _collect(image_dataset(square, batch_size=1, image_size=(8, 16), shuffle=False))
    assert out.shape == (1, 8, 16, 3)
    np.testing.assert_allclose(out, 1.0, atol=1e-6)

    # Upsampling 28 -> 32 keeps a constant image constant.
    flat = np.full((2, 28, 28), 51, dtype=np.uint8)
    out = _collect(image_dataset(flat, batch_size=2, image_size=(32, 32)))
    assert out.shape == (2, 32, 32, 1)
    np.testing.assert_allclose(out, 0.2, atol=1e-6)


def test_augment_changes_images_keeps_range_and_labels(rng):
    base = np.zeros((32, 32), dtype=np.uint8)
    base[4:28, 4:12] = 255  # an off-centre bar, so flips and shifts are visible
    base[4:28, 12:20] = 128
    images = np.repeat(base[None], 16, axis=0)
    labels = np.arange(16)
    ds = image_dataset(images, labels, batch_size=16, augment=True, shuffle=False, seed=5)
    out, out_labels = _collect(ds)
    original = base[..., None] / 255.0
    assert out.shape == (16, 32, 32, 1) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    changed = [not np.allclose(img, original) for img in out]
    assert sum(changed) >= 8
    flipped = [np.allclose(img, original[:, ::-1]) for img in out]
    assert any(flipped) or sum(changed) == 16
    # Nearest-neighbour shifts move pixels without inventing new values.
    assert set(np.unique(np.round(out * 255))) <= {0.0, 128.0, 255.0}
    np.testing.assert_array_equal(out_labels, labels)
    # Augmentations differ between epochs but are reproducible from the seed.
    second, _ = _collect(ds)
    assert not np.array_equal(out, second)
    ds_again = image_dataset(images, labels, batch_size=16, augment=True, shuffle=False, seed=5)
    np.testing.assert_array_equal(_collect(ds_again)[0], out)


def test_default_dataset_is_fashion_mnist_32x32():
    ds = default_dataset("test", batch_size=32, source="subset")
    images, labels = next(iter(ds))
    images, labels = np.asarray(images), np.asarray(labels)
    assert images.shape == (32, 32, 32, 1) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0 and images.max() > 0.9
    assert images[:, :2].max() == 0.0 and images[:, :, 30:].max() == 0.0
    # The test split is not shuffled by default, so the batch is the first 32 images.
    raw, raw_labels = load_fashion_mnist("test", source="subset")
    np.testing.assert_allclose(images, raw[:32] / 255.0, atol=1e-6)
    np.testing.assert_array_equal(labels, raw_labels[:32])

    only_images = next(iter(default_dataset("test", batch_size=4, source="subset", labels=False)))
    assert tuple(only_images.shape) == (4, 32, 32, 1)
    train = next(iter(default_dataset("train", batch_size=8, source="subset", image_size=(16, 16))))
    assert tuple(train[0].shape) == (8, 16, 16, 1)


def test_batches_feed_model_fit():
    import keras

    model = keras.Sequential(
        [keras.Input((32, 32, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]
    )
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [np.array(w) for w in model.get_weights()]
    ds = default_dataset("train", batch_size=16, source="subset", augment=True).take(3)
    history = model.fit(ds, epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights(), strict=True))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"batch_size": 0}, ValueError, "`batch_size` must be an integer >= 1, got 0"),
        ({"batch_size": 2.5}, TypeError, "`batch_size` must be an integer >= 1"),
        ({"image_size": (32,)}, ValueError, "image_size"),
        ({"image_size": (0, 8)}, ValueError, "image_size"),
        ({"image_size": "32"}, ValueError, "image_size"),
        ({"seed": "a"}, TypeError, "`seed` must be None or an integer"),
        ({"labels": np.arange(3)}, ValueError, "labels"),
        ({"labels": np.zeros(4, dtype=np.float32)}, ValueError, "labels"),
    ],
)
def test_image_dataset_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        image_dataset(np.zeros((4, 8, 8), dtype=np.uint8), **kwargs)


def test_image_dataset_takes_numpy_integers():
    ds = image_dataset(np.zeros((4, 8, 8), np.uint8), batch_size=np.int64(2), seed=np.int32(1))
    assert next(iter(ds)).shape == (2, 8, 8, 1)


@pytest.mark.parametrize(
    "images, match",
    [
        (np.zeros((4, 8, 8), dtype=np.int64), "uint8.*int64"),
        (np.full((4, 8, 8), 2.0), r"\[0, 1\]"),
        (np.full((4, 8, 8), np.nan), r"finite values in \[0, 1\], got NaN"),
        (np.full((4, 8, 8), -np.inf), "NaN or infinity"),
        (np.zeros((4, 8), dtype=np.uint8), "shape"),
        (np.zeros((0, 8, 8), dtype=np.uint8), "non-empty"),
    ],
)
def test_image_dataset_bad_images(images, match):
    with pytest.raises(ValueError, match=match):
        image_dataset(images)


def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def _class_folder(root):
    """Two classes created in reverse name order: 'b_zebra' (3 RGB) and 'a_ant' (2 gray)."""
    for i in range(3):
        red = np.zeros((12 + i, 20, 3), dtype=np.uint8)
        red[..., 0] = 200
        _save(root / "b_zebra" / f"z{i}.png", red)
    _save(root / "a_ant" / "x.jpg", np.full((16, 16), 50, dtype=np.uint8))
    _save(root / "a_ant" / "nested" / "y.bmp", np.full((30, 10), 50, dtype=np.uint8))
    (root / "a_ant" / "notes.txt").write_text("not an image, and not an image name")
    return root


def test_folder_dataset_class_ids_follow_sorted_names(tmp_path, recwarn):
    root = _class_folder(tmp_path / "images")
    ds, class_names = folder_dataset(root, image_size=(8, 8), batch_size=2, shuffle=False)
    assert class_names == ["a_ant", "b_zebra"]
    images, labels = _collect(ds)
    assert images.shape == (5, 8, 8, 3) and images.dtype == np.float32
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(labels, [0, 0, 1, 1, 1])
    # Ants are gray 50 (JPEG may shift it slightly); zebras pure red 200.
    np.testing.assert_allclose(images[labels == 0], 50 / 255, atol=3 / 255)
    np.testing.assert_allclose(images[labels == 1][..., 0], 200 / 255, atol=1e-6)
    np.testing.assert_allclose(images[labels == 1][..., 1:], 0.0, atol=1e-6)
    assert not [w for w in recwarn if "notes.txt" in str(w.message)]

    gray, _ = folder_dataset(root, image_size=(4, 6), channels=1, labels=False, batch_size=8)
    gray = _collect(gray)
    assert gray.shape == (5, 4, 6, 1)
    assert gray.min() >= 0.0 and gray.max() <= 1.0


def test_folder_dataset_skips_or_raises_on_corrupt_files(tmp_path):
    root = _class_folder(tmp_path / "images")
    (root / "b_zebra" / "broken.png").write_bytes(b"this is text, not a PNG")
    good = _save(tmp_path / "good.png", np.full((40, 40, 3), 9, dtype=np.uint8)).read_bytes()
    (root / "a_ant" / "cut.png").write_bytes(good[: len(good) // 2])

    with pytest.warns(UserWarning) as record:
        ds, _ = folder_dataset(root, image_size=(8, 8), batch_size=16)
    messages = " ".join(str(w.message) for w in record)
    assert str(root / "b_zebra" / "broken.png") in messages
    assert str(root / "a_ant" / "cut.png") in messages
    images, labels = _collect(ds)
    assert len(images) == 5
    np.testing.assert_array_equal(np.bincount(labels), [2, 3])

    with pytest.raises(ValueError, match="broken.png|cut.png"):
        folder_dataset(root, image_size=(8, 8), on_error="raise")


def test_folder_dataset_flat_empty_missing_and_bad_args(tmp_path):
    flat = tmp_path / "flat"
    for i in range(3):
        _save(flat / f"{i}.gif", np.full((10, 10, 3), 80 * i, dtype=np.uint8))
    with pytest.raises(ValueError, match="labels=False"):
        folder_dataset(flat, image_size=(8, 8))
    ds, class_names = folder_dataset(flat, image_size=(8, 8), labels=False, shuffle=False)
    assert class_names == []
    np.testing.assert_allclose(_collect(ds)[:, 0, 0, 0], [0, 80 / 255, 160 / 255], atol=1e-6)

    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No readable images.*empty"):
        folder_dataset(tmp_path / "empty", image_size=(8, 8))
    (tmp_path / "empty_classes" / "cat").mkdir(parents=True)
    with pytest.raises(ValueError, match="No readable images"):
        folder_dataset(tmp_path / "empty_classes", image_size=(8, 8))
    with pytest.raises(FileNotFoundError, match="missing"):
        folder_dataset(tmp_path / "missing", image_size=(8, 8))
    with pytest.raises(ValueError, match="image_size"):
        folder_dataset(flat, image_size=None, labels=False)
    with pytest.raises(ValueError, match="on_error"):
        folder_dataset(flat, image_size=(8, 8), labels=False, on_error="ignore")
    with pytest.raises(ValueError, match="channels"):
        folder_dataset(flat, image_size=(8, 8), labels=False, channels=4)


def test_find_and_load_images(tmp_path):
    root = _class_folder(tmp_path / "images")
    paths, labels, class_names = find_image_files(root)
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["x.jpg", "y.bmp", "z0.png", "z1.png", "z2.png"]
    np.testing.assert_array_equal(labels, [0, 0, 1, 1, 1])
    assert class_names == ["a_ant", "b_zebra"]

    loaded = load_images(paths[2:], image_size=(6, 6))
    assert loaded.shape == (3, 6, 6, 3) and loaded.dtype == np.uint8
    assert (loaded[..., 0] == 200).all() and (loaded[..., 1:] == 0).all()
    assert load_images(root, image_size=(5, 5), channels=1).shape == (5, 5, 5, 1)
    assert load_images(paths[2], channels=3).shape == (1, 12, 20, 3)
    with pytest.raises(ValueError, match="different sizes"):
        load_images(paths[2:])
    with pytest.raises(FileNotFoundError, match="nothing.png"):
        load_images(tmp_path / "nothing.png")


class KerasVimTinyImages(tfds.core.GeneratorBasedBuilder):
    """Grayscale images of one gray level each: 6 of growing height (train), 2 of 20x30 (test)."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        features = tfds.features.FeaturesDict(
            {
                "image": tfds.features.Image(shape=(None, None, 1)),
                "label": tfds.features.ClassLabel(num_classes=3),
                "index": np.int32,
            }
        )
        return tfds.core.DatasetInfo(builder=self, features=features)

    def _split_generators(self, dl_manager):
        return {
            "train": self._generate_examples(6, grow=4),
            "test": self._generate_examples(2, grow=0),
        }

    def _generate_examples(self, n, grow):
        for i in range(n):
            image = np.full((20 + grow * i, 30, 1), 10 * i + 5, dtype=np.uint8)
            yield i, {"image": image, "label": i % 3, "index": i}


@pytest.fixture(scope="module")
def tiny_tfds(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds")
    builder = KerasVimTinyImages(data_dir=str(data_dir))
    builder.download_and_prepare()
    return builder, str(data_dir)


def test_tfds_dataset_on_a_local_builder(tiny_tfds):
    builder, data_dir = tiny_tfds
    ds = tfds_dataset(
        builder.name, image_size=(16, 16), batch_size=4, data_dir=data_dir, download=False
    )
    images, labels = _collect(ds)
    assert images.shape == (6, 16, 16, 1) and images.dtype == np.float32
    assert labels.dtype == np.int32
    # Each image is one gray level 10 * i + 5 with label i % 3.
    index = (np.round(images[:, 0, 0, 0] * 255).astype(int) - 5) // 10
    assert sorted(index) == list(range(6))
    expected = np.broadcast_to((10 * index + 5)[:, None, None, None] / 255, images.shape)
    np.testing.assert_allclose(images, expected, atol=1e-6)
    np.testing.assert_array_equal(labels, index % 3)

    test_images = _collect(
        tfds_dataset(builder, split="test", image_size=(8, 8), labels=False, shuffle=False)
    )
    assert test_images.shape == (2, 8, 8, 1)
    np.testing.assert_allclose(sorted(test_images[:, 4, 4, 0]), [5 / 255, 15 / 255], atol=1e-6)


def test_tfds_dataset_fixed_size_without_resize_and_bad_keys(tiny_tfds):
    builder, _ = tiny_tfds
    ds = tfds_dataset(builder, split="test", image_size=None, labels=False, shuffle=False)
    out = _collect(ds)
    assert out.shape == (2, 20, 30, 1)
    levels = sorted(np.unique(out * 255).round())
    assert levels == [5.0, 15.0]
    augmented = _collect(tfds_dataset(builder, image_size=(12, 12), augment=True, seed=1))
    assert augmented[0].shape == (6, 12, 12, 1)
    assert augmented[0].min() >= 0.0 and augmented[0].max() <= 1.0
    with pytest.raises(ValueError, match="image_key='img'.*features.*image"):
        tfds_dataset(builder, image_key="img")
    with pytest.raises(ValueError, match="label_key='y'"):
        tfds_dataset(builder, label_key="y")
    with pytest.raises(ValueError, match="batch_size"):
        tfds_dataset(builder, batch_size=-1)
