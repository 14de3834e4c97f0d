"""Train the small Fashion-MNIST classifier behind the domain metrics (`keras_vim.metrics`).

The classifier (`keras_vim.metrics.FashionMNISTClassifier`, 90k parameters) gives the domain
Fréchet distance, the domain Inception Score and the class accuracy of samples. This recipe
trains it on the Fashion-MNIST training split (the full 60000 images when Debian's
`dataset-fashion-mnist` or another full source is there, else the shipped 6000-image subset),
measures top-1 accuracy on the full test split and on the shipped 1000-image test subset, and
writes `fashion_mnist_classifier.weights.h5` and `fashion_mnist_classifier.json` (the
configuration, settings and measured accuracies) into `--output`. `--ship` writes them into the
package (`keras_vim/metrics/assets/`), replacing the shipped classifier.

    KERAS_BACKEND=jax python recipes/train_classifier.py            # -> runs/classifier/
    KERAS_BACKEND=tensorflow python recipes/train_classifier.py --ship

The shipped weights come from the second command: 10 epochs on the 60000 training images,
19 minutes on a busy 2-core CPU (TensorFlow runs these convolutions fastest on a CPU), 91.9%
top-1 on the 10000 test images.

Every flag is checked before any work. `--output` belongs to one run: its files appear together
when both are written; a run with other settings is refused there.
"""

import argparse
import json
import os
import sys
import time

import keras
import numpy as np

from keras_vim.data import CLASS_NAMES, load_fashion_mnist
from keras_vim.metrics.domain_classifier import ASSETS_DIR, FashionMNISTClassifier
from keras_vim.utils import flags
from keras_vim.utils.run_directory import staged_writes

WEIGHTS_NAME = "fashion_mnist_classifier.weights.h5"
RECORD_NAME = "fashion_mnist_classifier.json"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=flags.POSITIVE_INT, default=10)
    parser.add_argument("--batch-size", type=flags.POSITIVE_INT, default=128)
    parser.add_argument(
        "--learning-rate", type=flags.POSITIVE, default=2e-3, help="Peak (cosine decay)."
    )
    parser.add_argument(
        "--source",
        default="auto",
        choices=("auto", "debian", "path", "subset", "download"),
        help="Fashion-MNIST source of keras_vim.data.load_fashion_mnist.",
    )
    parser.add_argument("--path", default=None, help="Data path for --source path/auto.")
    parser.add_argument(
        "--max-train-images",
        type=flags.NON_NEGATIVE_INT,
        default=0,
        help="Train on the first N images (0: all).",
    )
    parser.add_argument("--feature-dim", type=flags.POSITIVE_INT, default=64)
    parser.add_argument(
        "--filters",
        type=flags.list_of(flags.POSITIVE_INT, length=3),
        default=[16, 32, 64],
        help="Filters of the three blocks (default 16,32,64).",
    )
    parser.add_argument("--seed", type=flags.NON_NEGATIVE_INT, default=0)
    parser.add_argument(
        "--output",
        default="runs/classifier",
        help="Output directory: new, empty, or an earlier run of the same command.",
    )
    parser.add_argument(
        "--ship",
        action="store_true",
        help=f"Write into the package ({ASSETS_DIR}) instead of --output.",
    )
    args = parser.parse_args(argv)
    if args.source == "path" and args.path is None:
        parser.error("argument --path: needed with --source path")
    if args.path is not None and not os.path.exists(args.path):
        parser.error(f"argument --path: no such file or directory: {args.path!r}")
    return args


def accuracy(model, images, labels):
    probabilities = model.predict_proba(images)
    return float(np.mean(np.argmax(probabilities, axis=1) == labels))


def main(argv=None):
    args = parse_args(argv)
    # --output: new, or an earlier run of these settings.
    run = None if args.ship else flags.run_directory(args, exclude=("output", "ship"))
    if run is not None:
        finished = run.finished_results(RECORD_NAME)
        if finished is not None:
            return finished
        run.start()
    keras.utils.set_random_seed(args.seed)
    start = time.time()

    x_train, y_train = load_fashion_mnist("train", source=args.source, path=args.path)
    x_test, y_test = load_fashion_mnist("test", source=args.source, path=args.path)
    if args.max_train_images:
        x_train, y_train = x_train[: args.max_train_images], y_train[: args.max_train_images]
    x_subset, y_subset = load_fashion_mnist("test", source="subset")
    x_train = x_train.astype("float32") / 255.0

    config = {
        "num_classes": len(CLASS_NAMES),
        "filters": list(args.filters),
        "feature_dim": args.feature_dim,
        "dropout": 0.3,
    }
    model = FashionMNISTClassifier(**config)
    model.build()
    steps = args.epochs * -(-len(x_train) // args.batch_size)
    model.compile(
        optimizer=keras.optimizers.Adam(
            keras.optimizers.schedules.CosineDecay(args.learning_rate, steps, alpha=0.05)
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    print(
        f"training a {model.count_params():,}-parameter classifier on {len(x_train)} images "
        f"for {args.epochs} epochs",
        flush=True,
    )
    history = model.fit(
        x_train,
        y_train,
        batch_size=args.batch_size,
        epochs=args.epochs,
        shuffle=True,
        verbose=2,
    )
    train_seconds = time.time() - start

    # A fresh, uncompiled copy: the weights file of a compiled model also holds the optimizer's
    # moments (three times the size).
    shipped = FashionMNISTClassifier(**config)
    shipped.build()
    shipped.set_weights(model.get_weights())
    record = {
        "config": config,
        "class_names": list(CLASS_NAMES),
        "backend": keras.backend.backend(),
        "parameters": int(model.count_params()),
        "train_images": len(x_train),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "seed": args.seed,
        "data_source": args.source,
        "train_seconds": round(train_seconds, 1),
        "final_train_accuracy": round(float(history.history["accuracy"][-1]), 4),
        "test_images": len(x_test),
        "test_accuracy": accuracy(model, x_test, y_test),
        # The tests check the shipped weights against this on every backend.
        "subset_test_images": len(x_subset),
        "subset_test_accuracy": accuracy(model, x_subset, y_subset),
        "command": " ".join(
            [f"KERAS_BACKEND={keras.backend.backend()} python recipes/train_classifier.py"]
            + list(sys.argv[1:] if argv is None else argv)
        ),
    }
    # Both files into place together once both are written: never a record beside other
    # weights.
    with staged_writes(ASSETS_DIR) if run is None else run.publishing() as staging:
        shipped.save_weights(os.path.join(staging, WEIGHTS_NAME))
        with open(os.path.join(staging, RECORD_NAME), "w") as f:
            json.dump(record, f, indent=2)
    weights_path = os.path.join(ASSETS_DIR if run is None else args.output, WEIGHTS_NAME)
    print(
        f"test accuracy {record['test_accuracy']:.4f} ({len(x_test)} images), shipped test "
        f"subset {record['subset_test_accuracy']:.4f}; wrote {weights_path} "
        f"({os.path.getsize(weights_path) / 1024:.0f} KB) and {RECORD_NAME}",
        flush=True,
    )
    return record


if __name__ == "__main__":
    main()
