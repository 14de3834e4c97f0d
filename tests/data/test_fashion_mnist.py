"""Tests of the idx reader/writer, the Fashion-MNIST loader and the shipped subset."""

import gzip
import os
import struct

import numpy as np
import pytest

from keras_vim.data import CLASS_NAMES, load_fashion_mnist, read_idx, write_idx
from keras_vim.data import fashion_mnist as fm
from keras_vim.data.make_subset import make_subset


def _write_fake_split(directory, split, images, labels, gz=True):
    os.makedirs(directory, exist_ok=True)
    names = fm.idx_file_names(split)
    if not gz:
        names = [name.removesuffix(".gz") for name in names]
    write_idx(os.path.join(directory, names[0]), images)
    write_idx(os.path.join(directory, names[1]), labels)


def _fake_fashion(rng, n, shift=0):
    images = rng.integers(1, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = ((np.arange(n) + shift) % 10).astype(np.uint8)
    return images, labels


@pytest.mark.parametrize("name", ["a-ubyte", "a-ubyte.gz"])
@pytest.mark.parametrize(
    "array",
    [
        np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
        np.array([-7, 0, 123456789], dtype=np.int32),
        np.array([[1.5, -2.25], [3e10, 0.0]], dtype=np.float32),
        np.array([-300, 300], dtype=np.int16),
    ],
)
def test_idx_round_trip(tmp_path, name, array):
    path = write_idx(tmp_path / name, array)
    restored = read_idx(path)
    assert restored.dtype == array.dtype
    assert restored.dtype.isnative
    np.testing.assert_array_equal(restored, array)
    with open(path, "rb") as f:
        assert (f.read(2) == b"\x1f\x8b") == name.endswith(".gz")


def test_idx_reads_hand_written_big_endian_file(tmp_path):
    # The layout of the MNIST page: magic 0x00000B02 (int16, 2 dims), dims, big-endian data.
    payload = struct.pack(">4B2I", 0, 0, 0x0B, 2, 2, 2) + struct.pack(">4h", 1, -2, 256, 3)
    path = tmp_path / "x-idx2-short"
    path.write_bytes(payload)
    np.testing.assert_array_equal(read_idx(path), [[1, -2], [256, 3]])


def test_idx_header_written_as_specified(tmp_path):
    path = write_idx(tmp_path / "labels-idx1-ubyte", np.array([3, 1, 4], dtype=np.uint8))
    assert open(path, "rb").read() == bytes([0, 0, 8, 1, 0, 0, 0, 3, 3, 1, 4])


def test_idx_truncated_and_corrupt_files_raise(tmp_path):
    array = np.arange(100, dtype=np.uint8).reshape(4, 25)
    plain = write_idx(tmp_path / "plain-ubyte", array)
    with open(plain, "rb") as f:
        data = f.read()
    (tmp_path / "short-ubyte").write_bytes(data[:-5])
    with pytest.raises(ValueError, match="short-ubyte.*truncated"):
        read_idx(tmp_path / "short-ubyte")
    (tmp_path / "long-ubyte").write_bytes(data + b"\x00")
    with pytest.raises(ValueError, match="long-ubyte"):
        read_idx(tmp_path / "long-ubyte")

    gz = write_idx(tmp_path / "c-ubyte.gz", array)
    with open(gz, "rb") as f:
        gz_data = f.read()
    (tmp_path / "cut-ubyte.gz").write_bytes(gz_data[: len(gz_data) // 2])
    with pytest.raises(ValueError, match="cut-ubyte.gz"):
        read_idx(tmp_path / "cut-ubyte.gz")
    # A valid gzip stream around a truncated idx payload.
    (tmp_path / "inner-ubyte.gz").write_bytes(gzip.compress(data[:20]))
    with pytest.raises(ValueError, match="inner-ubyte.gz"):
        read_idx(tmp_path / "inner-ubyte.gz")

    (tmp_path / "text-ubyte").write_bytes(b"hello, not an idx file")
    with pytest.raises(ValueError, match="magic.*text-ubyte"):
        read_idx(tmp_path / "text-ubyte")
    with pytest.raises(FileNotFoundError, match="missing-ubyte"):
        read_idx(tmp_path / "missing-ubyte")


def test_write_idx_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(ValueError, match="int64"):
        write_idx(tmp_path / "x-ubyte", np.arange(3, dtype=np.int64))


def test_class_names():
    assert len(CLASS_NAMES) == 10
    assert CLASS_NAMES[0] == "T-shirt/top"
    assert CLASS_NAMES[9] == "Ankle boot"


@pytest.mark.parametrize("gz", [True, False])
def test_load_from_idx_directory_pads_into_centre(tmp_path, rng, gz):
    raw, raw_labels = _fake_fashion(rng, 12)
    _write_fake_split(tmp_path, "test", raw, raw_labels, gz=gz)
    images, labels = load_fashion_mnist("test", path=tmp_path)
    assert images.shape == (12, 32, 32, 1) and images.dtype == np.uint8
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(labels, raw_labels)
    np.testing.assert_array_equal(images[:, 2:30, 2:30, 0], raw)
    border = images.copy()
    border[:, 2:30, 2:30] = 0
    assert not border.any()
    # The same through source="path".
    again, _ = load_fashion_mnist("test", source="path", path=str(tmp_path))
    np.testing.assert_array_equal(again, images)


def test_load_from_npz_path(tmp_path, rng):
    raw, raw_labels = _fake_fashion(rng, 5)
    np.savez(tmp_path / "fm.npz", x_train=raw, y_train=raw_labels)
    images, labels = load_fashion_mnist("train", path=tmp_path / "fm.npz")
    np.testing.assert_array_equal(images[:, 2:30, 2:30, 0], raw)
    np.testing.assert_array_equal(labels, raw_labels)
    with pytest.raises(ValueError, match="x_test"):
        load_fashion_mnist("test", path=tmp_path / "fm.npz")


def test_subset_is_padded_and_class_balanced():
    with np.load(fm.SUBSET_PATH) as data:
        raw = {k: data[k] for k in data.files}
    assert raw["x_train"].shape == (6000, 28, 28) and raw["x_test"].shape == (1000, 28, 28)
    assert os.path.getsize(fm.SUBSET_PATH) < 5_000_000
    for split, per_class in (("train", 600), ("test", 100)):
        images, labels = load_fashion_mnist(split, source="subset")
        assert images.shape == (10 * per_class, 32, 32, 1) and images.dtype == np.uint8
        assert labels.dtype == np.int32
        assert labels.min() == 0 and labels.max() == 9
        np.testing.assert_array_equal(np.bincount(labels), [per_class] * 10)
        np.testing.assert_array_equal(images[:, 2:30, 2:30, 0], raw[f"x_{split}"])
        assert images[:, :2].max() == 0 and images[:, 30:].max() == 0
        assert images[:, :, :2].max() == 0 and images[:, :, 30:].max() == 0
        # Real clothes, not blank images: most of the centre is lit on average.
        assert 40 < images[:, 2:30, 2:30].mean() < 120


def _no_full_dataset(monkeypatch, tmp_path):
    monkeypatch.setattr(fm, "DEBIAN_DIR", str(tmp_path / "no-debian"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))


def test_auto_falls_back_to_subset_with_hint(monkeypatch, tmp_path):
    _no_full_dataset(monkeypatch, tmp_path)
    with pytest.warns(UserWarning, match="apt-get install dataset-fashion-mnist") as record:
        images, labels = load_fashion_mnist("test")
    assert "source='download'" in str(record[0].message)
    assert images.shape == (1000, 32, 32, 1)
    subset_images, _ = load_fashion_mnist("test", source="subset")
    np.testing.assert_array_equal(images, subset_images)


def test_auto_order_debian_then_keras_cache(monkeypatch, tmp_path, rng, recwarn):
    _no_full_dataset(monkeypatch, tmp_path)
    cache = tmp_path / "keras-home" / "datasets" / "fashion-mnist"
    cache_images, cache_labels = _fake_fashion(rng, 7)
    _write_fake_split(cache, "train", cache_images, cache_labels)
    images, _ = load_fashion_mnist("train")
    np.testing.assert_array_equal(images[:, 2:30, 2:30, 0], cache_images)

    debian = tmp_path / "debian"
    debian_images, debian_labels = _fake_fashion(rng, 9, shift=3)
    _write_fake_split(debian, "train", debian_images, debian_labels)
    monkeypatch.setattr(fm, "DEBIAN_DIR", str(debian))
    images, labels = load_fashion_mnist("train")
    np.testing.assert_array_equal(images[:, 2:30, 2:30, 0], debian_images)
    np.testing.assert_array_equal(labels, debian_labels)
    images, _ = load_fashion_mnist("train", source="debian")
    assert len(images) == 9
    assert not [w for w in recwarn if "subset" in str(w.message)]


def test_download_source_uses_keras(monkeypatch, rng):
    train = _fake_fashion(rng, 4)
    test = _fake_fashion(rng, 3)
    calls = []

    def fake_load_data():
        calls.append(1)
        return train, test

    import keras

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", fake_load_data)
    images, labels = load_fashion_mnist("test", source="download")
    assert calls == [1]
    np.testing.assert_array_equal(images[:, 2:30, 2:30, 0], test[0])
    np.testing.assert_array_equal(labels, test[1])


def test_debian_files_when_installed():
    if fm._find_idx_files(fm.DEBIAN_DIR, "test") is None:
        pytest.skip("Debian package dataset-fashion-mnist is not installed")
    images, labels = load_fashion_mnist("test", source="debian")
    assert images.shape == (10000, 32, 32, 1)
    np.testing.assert_array_equal(np.bincount(labels), [1000] * 10)
    subset, subset_labels = load_fashion_mnist("test", source="subset")
    # Subset images are real test images with their labels.
    label_of = {image.tobytes(): label for image, label in zip(images, labels, strict=True)}
    found = [label_of.get(image.tobytes()) for image in subset]
    assert None not in found
    assert np.mean(np.array(found) == subset_labels) > 0.99


def test_bad_arguments(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="split.*'train', 'test'.*'val'"):
        load_fashion_mnist("val")
    with pytest.raises(ValueError, match="source.*'auto'.*'download'.*'web'"):
        load_fashion_mnist(source="web")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_fashion_mnist(path=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="path"):
        load_fashion_mnist(source="path")
    with pytest.raises(ValueError, match="path"):
        load_fashion_mnist(source="subset", path=tmp_path)
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_fashion_mnist(path=tmp_path)
    monkeypatch.setattr(fm, "DEBIAN_DIR", str(tmp_path / "no-debian"))
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(source="debian")


def test_inconsistent_files_raise(tmp_path, rng):
    images, labels = _fake_fashion(rng, 6)
    _write_fake_split(tmp_path / "count", "train", images, labels[:5])
    with pytest.raises(ValueError, match=r"labels.*\(6,\)"):
        load_fashion_mnist(path=tmp_path / "count")
    _write_fake_split(tmp_path / "range", "train", images, labels + 5)
    with pytest.raises(ValueError, match=r"0\.\.9"):
        load_fashion_mnist(path=tmp_path / "range")
    _write_fake_split(tmp_path / "size", "train", images[:, :27], labels)
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        load_fashion_mnist(path=tmp_path / "size")


def test_make_subset_is_balanced_and_deterministic(tmp_path, rng):
    source = tmp_path / "source"
    for split, n in (("train", 60), ("test", 40)):
        images, labels = _fake_fashion(rng, n)
        _write_fake_split(source, split, images, labels)
    shapes = make_subset(tmp_path / "a.npz", source, train_per_class=3, test_per_class=2, seed=1)
    assert shapes["x_train"] == (30, 28, 28) and shapes["x_test"] == (20, 28, 28)
    make_subset(tmp_path / "b.npz", source, train_per_class=3, test_per_class=2, seed=1)
    make_subset(tmp_path / "c.npz", source, train_per_class=3, test_per_class=2, seed=2)
    a, b, c = (np.load(tmp_path / f"{k}.npz") for k in "abc")
    full = read_idx(source / "train-images-idx3-ubyte.gz")
    full_labels = read_idx(source / "train-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(np.bincount(a["y_train"]), [3] * 10)
    np.testing.assert_array_equal(np.bincount(a["y_test"]), [2] * 10)
    assert a["x_train"].dtype == np.uint8
    for key in a.files:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["x_train"], c["x_train"])
    rows = {img.tobytes(): label for img, label in zip(full, full_labels, strict=True)}
    for img, label in zip(a["x_train"], a["y_train"], strict=True):
        assert rows[img.tobytes()] == label
