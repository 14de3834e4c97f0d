"""Finding, checking and reading image files on disk (the folder-dataset side of the input)."""

import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
# PIL format names whose files `tf.io.decode_image` reads (MPO is a multi-picture JPEG).
_TF_FORMATS = {"PNG", "JPEG", "MPO", "BMP", "GIF"}
ON_ERROR = ("skip", "raise")


def find_image_files(directory, on_error="skip"):
    """Lists the readable image files of a folder, with class ids from its subfolders.

    With subfolders, each (non-hidden) subfolder is a class: class names are the
    sorted subfolder names and class ids their positions; images are searched
    recursively inside each, and files directly in `directory` are ignored.
    Without subfolders, the folder is flat: its images get label -1 and there
    are no class names. Only `.png`, `.jpg`, `.jpeg`, `.bmp` and `.gif` files
    (any case) are considered; hidden files are ignored.

    Every candidate is decoded once with PIL, so truncated, corrupt or
    mislabelled files (e.g. text saved as `.png`) are found here, with their
    path, rather than in the middle of training.

    Args:
        directory: the image folder.
        on_error: `"skip"` warns about each unreadable file (naming it) and
            leaves it out; `"raise"` raises a `ValueError` naming it.

    Returns:
        `(paths, labels, class_names)`: a list of file paths (sorted within
        each class), an int32 numpy array of class ids (-1 for a flat folder)
        and a list of class names (empty for a flat folder).

    Raises:
        FileNotFoundError: if `directory` does not exist.
        NotADirectoryError: if it is not a directory.
        ValueError: if no readable image is found, on a bad `on_error`, or on
            an unreadable file with `on_error="raise"`.

    Example:

    >>> paths, labels, class_names = find_image_files("flowers/")
    >>> class_names
    ['daisy', 'rose', 'tulip']
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}; got {on_error!r}")
    directory = os.fspath(directory)
    if not os.path.exists(directory):
        raise FileNotFoundError(f"Image folder not found: {directory}")
    if not os.path.isdir(directory):
        raise NotADirectoryError(f"Not a folder: {directory}")

    class_names = sorted(
        entry.name
        for entry in os.scandir(directory)
        if entry.is_dir() and not entry.name.startswith(".")
    )
    if class_names:
        candidates = [
            (path, class_id)
            for class_id, name in enumerate(class_names)
            for path in _walk_images(os.path.join(directory, name))
        ]
    else:
        candidates = [
            (entry.path, -1)
            for entry in sorted(os.scandir(directory), key=lambda e: e.name)
            if entry.is_file() and _is_image_name(entry.name)
        ]

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        problems = list(pool.map(_image_problem, [path for path, _ in candidates]))
    paths, labels = [], []
    for (path, class_id), problem in zip(candidates, problems, strict=True):
        if problem is None:
            paths.append(path)
            labels.append(class_id)
        elif on_error == "raise":
            raise ValueError(f"Unreadable image file {path}: {problem}")
        else:
            warnings.warn(f"Skipping unreadable image file {path}: {problem}", stacklevel=2)
    if not paths:
        raise ValueError(
            f"No readable images ({', '.join(IMAGE_EXTENSIONS)}) found in {directory}"
            + (f" (classes {class_names})" if class_names else "")
        )
    return paths, np.asarray(labels, dtype=np.int32), class_names


def load_images(paths, image_size=None, channels=3):
    """Reads image files into one uint8 numpy array, with PIL.

    Handy for a handful of images (e.g. to reconstruct your own pictures with a
    tokenizer); use `folder_dataset` to stream a large folder.

    Args:
        paths: a folder (listed with `find_image_files`, unreadable files
            raising), one image file, or a list of image file paths.
        image_size: `(height, width)`; each image is center-cropped to that
            aspect ratio and resized (bilinear). `None` keeps the sizes, which
            must then all be equal.
        channels: 1 (grayscale) or 3 (RGB).

    Returns:
        A uint8 array of shape `(N, height, width, channels)`.

    Example:

    >>> load_images(["cat.jpg", "dog.png"], image_size=(64, 64)).shape
    (2, 64, 64, 3)
    """
    from PIL import Image, ImageOps

    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3; got {channels!r}")
    if isinstance(paths, str | os.PathLike):
        if os.path.isdir(paths):
            paths = find_image_files(paths, on_error="raise")[0]
        elif os.path.isfile(paths):
            paths = [paths]
        else:
            raise FileNotFoundError(f"Image file or folder not found: {os.fspath(paths)}")
    if len(paths) == 0:
        raise ValueError("paths is empty; give at least one image file")
    arrays = []
    for path in paths:
        try:
            with Image.open(path) as im:
                im = im.convert("L" if channels == 1 else "RGB")
                if image_size is not None:
                    height, width = image_size
                    im = ImageOps.fit(im, (width, height), method=Image.Resampling.BILINEAR)
                arrays.append(np.asarray(im, dtype=np.uint8).reshape(im.height, im.width, -1))
        except FileNotFoundError:
            raise
        except Exception as e:
            raise ValueError(f"Unreadable image file {os.fspath(path)}: {e}") from e
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"Images have different sizes {sorted(shapes)}; pass image_size")
    return np.stack(arrays)


def _is_image_name(name):
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def _walk_images(root):
    found = []
    for parent, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(os.path.join(parent, f) for f in sorted(files) if _is_image_name(f))
    return found


def _image_problem(path):
    """Returns why `path` cannot be decoded by the pipeline, or None if it can."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            image_format, mode = im.format, im.mode
            im.load()
    except Exception as e:  # PIL raises many types (OSError, SyntaxError, ...)
        return f"{type(e).__name__}: {e}"
    if image_format not in _TF_FORMATS or (image_format == "BMP" and mode == "1"):
        return f"unsupported image format {image_format} (mode {mode})"
    return None
