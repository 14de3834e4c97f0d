"""Fashion-MNIST (Xiao et al., 2017; MIT licence), the library's default dataset."""

import os
import warnings
import zipfile
from pathlib import Path

import numpy as np

from keras_vim.data.idx import read_idx

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
# Where Debian's `dataset-fashion-mnist` package installs the four idx files.
DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
SUBSET_PATH = Path(__file__).resolve().parent / "assets" / "fashion_mnist_subset.npz"

SPLITS = ("train", "test")
SOURCES = ("auto", "debian", "path", "subset", "download")
_FILE_PREFIX = {"train": "train", "test": "t10k"}
_INSTALL_HINT = "install it with `apt-get install dataset-fashion-mnist`"
# 28 + 2 * 2 = 32, which ViT patch sizes 4 and 8 divide.
_PADDING = 2


def idx_file_names(split):
    """Names of the image and label idx files of a Fashion-MNIST split.

    Args:
        split: `"train"` or `"test"`.

    Returns:
        `(images_name, labels_name)`, e.g.
        `("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")`.

    Example:

    >>> idx_file_names("train")[0]
    'train-images-idx3-ubyte.gz'
    """
    _check_choice("split", split, SPLITS)
    prefix = _FILE_PREFIX[split]
    return f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"


def load_fashion_mnist(split="train", source="auto", path=None):
    """Loads Fashion-MNIST as 32x32 uint8 images (28x28 zero-padded by 2 pixels).

    Sources, tried in this order by `source="auto"`:

    1. `path`, when given: a directory holding the idx files (`.gz` or not),
       or an `.npz` file with `x_train`, `y_train`, `x_test`, `y_test`.
    2. `/usr/share/datasets/fashion-mnist` (`apt-get install dataset-fashion-mnist`).
    3. The Keras download cache, `$KERAS_HOME/datasets/fashion-mnist` or
       `~/.keras/datasets/fashion-mnist`, if `keras.datasets` put the files there.
    4. The subset shipped with the package (6000 train / 1000 test images,
       class-balanced), with a warning that says how to get the full set.

    `source="download"` fetches the dataset with
    `keras.datasets.fashion_mnist.load_data()`; nothing downloads otherwise.

    Args:
        split: `"train"` (60000 images) or `"test"` (10000 images).
        source: one of `"auto"`, `"debian"`, `"path"`, `"subset"`, `"download"`.
        path: directory or `.npz` file, for `source="auto"` or `"path"`.

    Returns:
        `(images, labels)`: images uint8 of shape `(N, 32, 32, 1)`, labels int32
        of shape `(N,)` with values in `0..9` (see `CLASS_NAMES`).

    Raises:
        ValueError: on a bad `split` or `source`, or corrupt files.
        FileNotFoundError: if `path` or the files of the chosen source are missing.

    Example:

    >>> images, labels = load_fashion_mnist("test", source="subset")
    >>> images.shape, images.dtype, labels[:3]
    ((1000, 32, 32, 1), dtype('uint8'), array([3, 0, 1], dtype=int32))
    """
    _check_choice("split", split, SPLITS)
    _check_choice("source", source, SOURCES)
    if path is not None and source not in ("auto", "path"):
        raise ValueError(f"path is only used with source='auto' or 'path'; got source={source!r}")
    if source == "path" and path is None:
        raise ValueError("source='path' needs the path argument (a directory or .npz file)")

    if path is not None:
        images, labels, origin = _load_path(os.fspath(path), split)
    elif source == "debian":
        images, labels, origin = _load_idx_dir(DEBIAN_DIR, split, hint=_INSTALL_HINT)
    elif source == "subset":
        images, labels, origin = _load_subset(split)
    elif source == "download":
        images, labels, origin = _load_download(split)
    else:
        for directory in (DEBIAN_DIR, _keras_cache_dir()):
            if _find_idx_files(directory, split) is not None:
                images, labels, origin = _load_idx_dir(directory, split)
                break
        else:
            images, labels, origin = _load_subset(split)
            warnings.warn(
                f"Fashion-MNIST: full dataset not found, using the shipped subset "
                f"({len(labels)} {split} images); for all of it run "
                "`apt-get install dataset-fashion-mnist` or pass source='download'.",
                stacklevel=2,
            )
    _check_arrays(images, labels, origin)
    return _pad(images), labels.astype(np.int32)


def _check_choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")


def _keras_cache_dir():
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "datasets", "fashion-mnist")


def _find_idx_files(directory, split):
    for suffix in (".gz", ""):
        names = [name.removesuffix(".gz") + suffix for name in idx_file_names(split)]
        paths = [os.path.join(directory, name) for name in names]
        if all(os.path.isfile(p) for p in paths):
            return paths
    return None


def _load_idx_dir(directory, split, hint=None):
    paths = _find_idx_files(directory, split)
    if paths is None:
        names = " and ".join(idx_file_names(split))
        message = f"Fashion-MNIST {split} files ({names}) not found in {directory}"
        raise FileNotFoundError(message + (f"; {hint}" if hint else ""))
    return read_idx(paths[0]), read_idx(paths[1]), directory


def _load_npz(path, split):
    keys = (f"x_{split}", f"y_{split}")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as e:
        raise ValueError(f"Cannot read {path} as an .npz file: {e}") from e
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} is a single .npy array, not an .npz file with {keys}")
    with data:
        arrays = {k: data[k] for k in keys if k in data.files}
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise ValueError(f"{path} lacks the arrays {missing}")
    return arrays[keys[0]], arrays[keys[1]], path


def _load_path(path, split):
    if not os.path.exists(path):
        raise FileNotFoundError(f"Fashion-MNIST path not found: {path}")
    if os.path.isdir(path):
        return _load_idx_dir(path, split)
    return _load_npz(path, split)


def _load_subset(split):
    if not SUBSET_PATH.is_file():
        raise FileNotFoundError(
            f"The shipped Fashion-MNIST subset is missing: {SUBSET_PATH}; "
            "rebuild it with `python -m keras_vim.data.make_subset`"
        )
    return _load_npz(str(SUBSET_PATH), split)


def _load_download(split):
    import keras

    train, test = keras.datasets.fashion_mnist.load_data()
    images, labels = train if split == "train" else test
    return images, labels, "keras.datasets.fashion_mnist"


def _check_arrays(images, labels, origin):
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(
            f"Fashion-MNIST images from {origin} must be uint8 of shape (N, 28, 28); "
            f"got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"Fashion-MNIST labels from {origin} must have shape ({len(images)},); "
            f"got {labels.shape}"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= len(CLASS_NAMES)):
        raise ValueError(
            f"Fashion-MNIST labels from {origin} must lie in 0..{len(CLASS_NAMES) - 1}; "
            f"got {labels.min()}..{labels.max()}"
        )


def _pad(images):
    p = _PADDING
    return np.pad(images, ((0, 0), (p, p), (p, p)))[..., None]
