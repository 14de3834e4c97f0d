"""Image grids as PNG files, for reconstructions and samples."""

import numpy as np
from keras import ops


def image_grid(images, columns=8, padding=2):
    """Tiles `(N, H, W, C)` images in [0, 1] into one uint8 `(rows*H, columns*W, C)` array."""
    images = np.clip(ops.convert_to_numpy(images).astype("float32"), 0.0, 1.0)
    if images.ndim != 4:
        raise ValueError(f"`images` must have shape (N, H, W, C), got {images.shape}.")
    count, height, width, channels = images.shape
    columns = max(1, min(columns, count))
    rows = -(-count // columns)
    grid = np.ones(
        (rows * (height + padding) + padding, columns * (width + padding) + padding, channels),
        "float32",
    )
    for i, image in enumerate(images):
        top = padding + (i // columns) * (height + padding)
        left = padding + (i % columns) * (width + padding)
        grid[top : top + height, left : left + width] = image
    return (grid * 255.0 + 0.5).astype("uint8")


def save_image_grid(images, path, columns=8, scale=1):
    """Writes `image_grid(images, columns)` to a PNG at `path`, enlarged `scale` times."""
    from PIL import Image

    grid = image_grid(images, columns)
    picture = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    picture.save(path)
    return path
