"""Builds the Fashion-MNIST subset shipped with the package.

Run `python -m keras_vim.data.make_subset` on a machine with Debian's
`dataset-fashion-mnist` package (or pass `--source-dir`). The output is
deterministic for a given seed.
"""

import argparse
import os

import numpy as np

from keras_vim.data.fashion_mnist import CLASS_NAMES, DEBIAN_DIR, SUBSET_PATH, idx_file_names
from keras_vim.data.idx import read_idx


def make_subset(
    output=SUBSET_PATH,
    source_dir=DEBIAN_DIR,
    train_per_class=600,
    test_per_class=100,
    seed=0,
):
    """Writes a class-balanced random subset of Fashion-MNIST to an `.npz` file.

    Images are stored unpadded (uint8, 28x28) under `x_train`, `y_train`,
    `x_test`, `y_test`; the chosen examples keep their original order.

    Args:
        output: path of the `.npz` file to write.
        source_dir: directory with the four Fashion-MNIST idx `.gz` files.
        train_per_class: training images kept per class.
        test_per_class: test images kept per class.
        seed: seed of the random choice.

    Returns:
        A dict mapping each array name to its shape.

    Example:

    >>> make_subset("/tmp/subset.npz", train_per_class=10, test_per_class=2)["x_train"]
    (100, 28, 28)
    """
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        images_name, labels_name = idx_file_names(split)
        images = read_idx(os.path.join(source_dir, images_name))
        labels = read_idx(os.path.join(source_dir, labels_name))
        chosen = np.sort(
            np.concatenate(
                [
                    rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
                    for c in range(len(CLASS_NAMES))
                ]
            )
        )
        arrays[f"x_{split}"] = images[chosen].astype(np.uint8)
        arrays[f"y_{split}"] = labels[chosen].astype(np.uint8)
    os.makedirs(os.path.dirname(os.fspath(output)) or ".", exist_ok=True)
    np.savez_compressed(output, **arrays)
    return {name: array.shape for name, array in arrays.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(SUBSET_PATH))
    parser.add_argument("--source-dir", default=DEBIAN_DIR)
    parser.add_argument("--train-per-class", type=int, default=600)
    parser.add_argument("--test-per-class", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    shapes = make_subset(
        args.output, args.source_dir, args.train_per_class, args.test_per_class, args.seed
    )
    size_mb = os.path.getsize(args.output) / 1e6
    print(f"wrote {args.output} ({size_mb:.2f} MB): {shapes}")


if __name__ == "__main__":
    main()
