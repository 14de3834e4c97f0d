"""Linear probe of a frozen VIM (paper section 4.2): how well the classes can be read linearly
from the average-pooled token features of each Transformer block.

The images of the train and test splits are tokenized once (cached in `--output`), the VIM is
frozen, the token features of block k are average-pooled (`VIM.features`, with the null class
for a class-conditional VIM, so the features do not see the label) and a linear softmax
classifier is trained on them with `fit` (`keras_vim.metrics.fit_linear_probe`). A linear
classifier on the raw pixels of the same images is the baseline. It writes into `--output`:

    probe.json        top-1 train/test accuracy per block, the pixel baseline, settings
    probe_curve.png   test accuracy per block, the pixel baseline as a dashed line
    tokens_*.npz      the cached token ids

Every flag is checked before any work. `--output` belongs to one probe run: its results appear
together when all are written; a run with other settings is refused there.

    KERAS_BACKEND=jax python recipes/linear_probe.py --tokenizer vit_vqgan_tiny_fashion_mnist \\
        --prior vim_tiny_fashion_mnist --blocks all
    KERAS_BACKEND=jax python recipes/linear_probe.py --tokenizer runs/vim/tokenizer/preset \\
        --prior runs/vim/preset --blocks 2
"""

import argparse
import json
import os
import time

import keras
import numpy as np

import keras_vim
from keras_vim.metrics import fit_linear_probe, probe_features
from keras_vim.models import VIM, VQGANBase
from keras_vim.utils import flags


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tokenizer",
        default="vit_vqgan_tiny_fashion_mnist",
        help="Tokenizer: preset name, preset directory or .keras file.",
    )
    parser.add_argument(
        "--prior",
        default="vim_tiny_fashion_mnist",
        help="VIM: preset name, preset directory or .keras file.",
    )
    parser.add_argument(
        "--data", default="fashion_mnist", help="'fashion_mnist', an image folder or 'tfds:NAME'."
    )
    parser.add_argument(
        "--image-size", type=flags.POSITIVE_INT, default=None, help="Square size (folder/TFDS)."
    )
    parser.add_argument(
        "--blocks",
        default="all",
        help="'all' (every block: the accuracy-per-block curve), 'middle', or block numbers "
        "such as '2' or '1,3' (1-based).",
    )
    parser.add_argument(
        "--max-train-images",
        type=flags.NON_NEGATIVE_INT,
        default=12000,
        help="Train the probe on the first N training images (0: all).",
    )
    parser.add_argument(
        "--max-test-images",
        type=flags.NON_NEGATIVE_INT,
        default=0,
        help="Test on the first N test images (0: all).",
    )
    parser.add_argument("--epochs", type=flags.POSITIVE_INT, default=100)
    parser.add_argument("--batch-size", type=flags.POSITIVE_INT, default=256)
    parser.add_argument("--learning-rate", type=flags.POSITIVE, default=3e-3)
    parser.add_argument("--weight-decay", type=flags.NON_NEGATIVE, default=1e-4)
    parser.add_argument(
        "--no-pixel-baseline", action="store_true", help="Skip the raw-pixel linear baseline."
    )
    parser.add_argument("--seed", type=flags.NON_NEGATIVE_INT, default=0)
    parser.add_argument(
        "--output",
        default="runs/linear_probe",
        help="Output directory: new, empty, or an earlier run of the same command.",
    )
    args = parser.parse_args(argv)
    check_args(parser, args)
    return args


def check_args(parser, args):
    """The checks that look at several flags or at files (`parser.error` if one fails)."""
    flags.check_data(parser, args, labels=True)
    flags.model_config(parser, "--tokenizer", VQGANBase, args.tokenizer)
    config = flags.model_config(parser, "--prior", VIM, args.prior)
    try:  # the block numbers against the prior's depth when its preset tells it
        parse_blocks(args.blocks, (config or {}).get("num_layers"))
    except ValueError as error:
        parser.error(f"argument --blocks: {error}")


def load_model(cls, source):
    """A model from a `.keras` file, a preset directory or a registered preset name."""
    if str(source).endswith(".keras"):
        model = keras.saving.load_model(source)
        if not isinstance(model, cls):
            raise ValueError(f"{source} holds a {type(model).__name__}, not a {cls.__name__}.")
        return model
    return cls.from_preset(source)


def load_models(tokenizer_source, prior_source):
    tokenizer = load_model(VQGANBase, tokenizer_source)
    prior = load_model(VIM, prior_source)
    if tuple(tokenizer.grid_size) != tuple(prior.grid_size) or (
        tokenizer.num_codes != prior.vocabulary_size
    ):
        raise ValueError(
            f"The tokenizer ({tokenizer.grid_size} grid of {tokenizer.num_codes} codes) does not "
            f"match the prior ({prior.grid_size} grid of {prior.vocabulary_size} codes)."
        )
    return tokenizer, prior


def load_split(data, split, limit, image_size=None, batch_size=256):
    """The images (float32 in [0, 1]) and labels of a split, as numpy, first `limit` only."""
    size = (image_size, image_size) if image_size else None
    dataset, info = keras_vim.data.load_dataset(
        data, split, image_size=size, batch_size=batch_size, labels=True, shuffle=False
    )
    images, labels, count = [], [], 0
    for batch_images, batch_labels in dataset.as_numpy_iterator():
        images.append(batch_images)
        labels.append(batch_labels)
        count += len(batch_images)
        if limit and count >= limit:
            break
    images, labels = np.concatenate(images), np.concatenate(labels).astype("int32")
    if limit:
        images, labels = images[:limit], labels[:limit]
    return images, labels, info


def parse_blocks(text, num_layers):
    """The 1-based block numbers `--blocks` names; `num_layers` None: not checked against the
    prior's depth ('all' and 'middle' then give None)."""
    if text in ("all", "middle") and num_layers is None:
        return None
    if text == "all":
        return list(range(1, num_layers + 1))
    if text == "middle":
        return [(num_layers + 1) // 2]
    try:
        blocks = [int(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(
            f"expected 'all', 'middle' or block numbers such as '2' or '1,3', got {text!r}"
        ) from None
    for block in blocks:
        if block < 1:
            raise ValueError(f"block numbers start at 1, got {block}")
        if num_layers is not None and block > num_layers:
            raise ValueError(f"block {block} is not in [1, {num_layers}]")
    return blocks


def main(argv=None):
    args = parse_args(argv)
    run = flags.run_directory(args)  # new, or an earlier run of these settings
    finished = run.finished_results("probe.json")
    if finished is not None:
        return finished
    run.start()
    keras.utils.set_random_seed(args.seed)
    start = time.time()
    tokenizer, prior = load_models(args.tokenizer, args.prior)
    blocks = parse_blocks(args.blocks, prior.num_layers)

    splits = {}
    for split, limit in (("train", args.max_train_images), ("test", args.max_test_images)):
        images, labels, info = load_split(args.data, split, limit, args.image_size)
        ids, _ = keras_vim.data.tokenize_dataset(
            tokenizer,
            images,
            labels=labels,
            cache_path=os.path.join(args.output, f"tokens_{split}.npz"),
            key=f"{args.data}/{split}/{args.image_size}/{len(images)}",
        )
        splits[split] = (images, labels, ids)
    (train_images, train_labels, train_ids), (test_images, test_labels, test_ids) = (
        splits["train"],
        splits["test"],
    )
    num_classes = len(info["class_names"]) if info["class_names"] else None
    settings = dict(
        num_classes=num_classes,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        weight_decay=args.weight_decay,
        seed=args.seed,
    )

    results = {}
    for block in blocks:
        block_start = time.time()
        train_features = probe_features(prior, train_ids, block=block)
        test_features = probe_features(prior, test_ids, block=block)
        report, _ = fit_linear_probe(
            train_features, train_labels, test_features, test_labels, **settings
        )
        report["seconds"] = round(time.time() - block_start, 1)
        results[str(block)] = report
        print(
            f"block {block}/{prior.num_layers}: top-1 test {report['test_accuracy']:.4f} "
            f"(train {report['train_accuracy']:.4f}, {report['seconds']}s)",
            flush=True,
        )
    baseline = None
    if not args.no_pixel_baseline:
        baseline, _ = fit_linear_probe(
            train_images.reshape(len(train_images), -1),
            train_labels,
            test_images.reshape(len(test_images), -1),
            test_labels,
            **settings,
        )
        print(f"raw pixels: top-1 test {baseline['test_accuracy']:.4f}", flush=True)

    best = max(results, key=lambda block: results[block]["test_accuracy"])
    report = {
        "backend": keras.backend.backend(),
        "tokenizer": args.tokenizer,
        "prior": args.prior,
        "prior_blocks": prior.num_layers,
        "data": args.data,
        "train_images": len(train_ids),
        "test_images": len(test_ids),
        "settings": {k: v for k, v in settings.items() if k != "num_classes"},
        "blocks": results,
        "best_block": int(best),
        "best_test_accuracy": results[best]["test_accuracy"],
        "pixel_baseline": baseline,
        "seconds": round(time.time() - start, 1),
    }
    # Into place together once both are written: never beside an earlier attempt's.
    with run.publishing() as staging:
        with open(os.path.join(staging, "probe.json"), "w") as f:
            json.dump(report, f, indent=2)
        keras_vim.utils.save_line_plot(
            os.path.join(staging, "probe_curve.png"),
            [int(block) for block in results],
            {"VIM block features": [r["test_accuracy"] for r in results.values()]},
            title=f"Linear probe, {args.data} ({len(test_ids)} test images)",
            x_label="Transformer block",
            y_label="top-1 test accuracy",
            reference_lines=(
                None if baseline is None else {"raw pixels": baseline["test_accuracy"]}
            ),
        )
    print(
        f"best: block {best} ({results[best]['test_accuracy']:.4f}); wrote {args.output}/: "
        "probe.json, probe_curve.png",
        flush=True,
    )
    return report


if __name__ == "__main__":
    main()
