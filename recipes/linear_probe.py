"""Linear probe of a frozen VIM (paper section 4.2): how well the classes can be read linearly
from the average-pooled token features of each Transformer block.

The images of the train and test splits are tokenized once (cached in `--output`), the VIM is
frozen, the token features of block k are average-pooled (`VIM.features`, with the null class
for a class-conditional VIM, so the features do not see the label) and go through the probe
protocol of `keras_vim.metrics.fit_linear_probe`: a multinomial logistic regression on
standardized features, fitted to convergence by full-batch L-BFGS, its L2 strength chosen from
`--l2-grid` on a class-stratified `--validation-fraction` of the training images (never on the
test images), refitted on all training images at that strength, scored on the test images.
Three baselines go through the very same protocol: the raw pixels of the same images, the
tokenizer's reconstructions of them as pixels (what the tokens keep), and the bag of codes (the
normalized histogram of each image's tokens, `bag_of_codes_features`). It writes into
`--output`:

    probe.json        top-1 train/validation/test accuracy per block and of the baselines,
                      the best block (chosen on validation accuracy, like the L2 strength),
                      the chosen L2 strength with the validation accuracy of every one tried,
                      L-BFGS iterations and convergence, settings
    probe_curve.png   test accuracy per block, the baselines as dashed lines
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

import keras_vim
from keras_vim.metrics import bag_of_codes_features, fit_linear_probe, probe_features
from keras_vim.metrics.linear_probe import L2_GRID
from keras_vim.models import VIM, VQGANBase
from keras_vim.pipelines import decode_in_batches, first_images, load_tokenizer_and_prior
from keras_vim.utils import flags


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    flags.add_evaluation_arguments(parser)
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
    parser.add_argument(
        "--l2-grid",
        type=flags.list_of(flags.POSITIVE),
        default=list(L2_GRID),
        help="L2 strengths tried on the validation split (comma-separated, each > 0).",
    )
    parser.add_argument(
        "--validation-fraction",
        type=flags.real(0, 1, low_open=True, high_open=True),
        default=0.1,
        help="Share of each class of the training images held out to choose the L2 strength.",
    )
    parser.add_argument(
        "--max-iterations",
        type=flags.POSITIVE_INT,
        default=1000,
        help="The most L-BFGS iterations of each fit.",
    )
    parser.add_argument(
        "--batch-size",
        type=flags.POSITIVE_INT,
        default=256,
        help="Token grids per call of the prior when extracting features.",
    )
    parser.add_argument(
        "--no-pixel-baseline", action="store_true", help="Skip the raw-pixel linear baseline."
    )
    parser.add_argument(
        "--no-reconstruction-baseline",
        action="store_true",
        help="Skip the baseline of the tokenizer's reconstructions as pixels.",
    )
    parser.add_argument(
        "--no-bag-of-codes",
        action="store_true",
        help="Skip the bag-of-codes baseline (a histogram of each image's tokens).",
    )
    parser.add_argument(
        "--seed", type=flags.NON_NEGATIVE_INT, default=0, help="Seed of the validation split."
    )
    flags.add_output_argument(parser, "runs/linear_probe")
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
    tokenizer, prior = load_tokenizer_and_prior(args.tokenizer, args.prior)
    blocks = parse_blocks(args.blocks, prior.num_layers)

    splits = {}
    for split, limit in (("train", args.max_train_images), ("test", args.max_test_images)):
        images, labels, info = first_images(args.data, split, limit, args.image_size, labels=True)
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
        l2_grid=args.l2_grid,
        validation_fraction=args.validation_fraction,
        max_iterations=args.max_iterations,
        seed=args.seed,
    )

    def probe(name, train_features, test_features):
        probe_start = time.time()
        report, _ = fit_linear_probe(
            train_features, train_labels, test_features, test_labels, **settings
        )
        report["seconds"] = round(time.time() - probe_start, 1)
        print(
            f"{name}: top-1 test {report['test_accuracy']:.4f} (train "
            f"{report['train_accuracy']:.4f}, validation {report['validation_accuracy']:.4f}, "
            f"l2 {report['l2']:g}, {report['iterations']} iterations"
            f"{'' if report['converged'] else ', not converged'}, {report['seconds']}s)",
            flush=True,
        )
        return report

    results = {}
    # Every block's features from one pass through the prior.
    features_start = time.time()
    train_features = probe_features(prior, train_ids, block=blocks, batch_size=args.batch_size)
    test_features = probe_features(prior, test_ids, block=blocks, batch_size=args.batch_size)
    features_seconds = round(time.time() - features_start, 1)
    for block, train_block, test_block in zip(blocks, train_features, test_features):
        results[str(block)] = probe(f"block {block}/{prior.num_layers}", train_block, test_block)
    del train_features, test_features
    baselines = {}
    if not args.no_pixel_baseline:
        baselines["raw pixels"] = probe(
            "raw pixels",
            train_images.reshape(len(train_images), -1),
            test_images.reshape(len(test_images), -1),
        )
    if not args.no_reconstruction_baseline:
        # What the prior can see at best: the images as the tokenizer gives them back.
        baselines["reconstructions"] = probe(
            "reconstructions",
            decode_in_batches(tokenizer, train_ids, args.batch_size).reshape(len(train_ids), -1),
            decode_in_batches(tokenizer, test_ids, args.batch_size).reshape(len(test_ids), -1),
        )
    if not args.no_bag_of_codes:
        baselines["bag of codes"] = probe(
            "bag of codes",
            bag_of_codes_features(train_ids, tokenizer.num_codes),
            bag_of_codes_features(test_ids, tokenizer.num_codes),
        )
    references = {name: result["test_accuracy"] for name, result in baselines.items()}

    # The best block is chosen on validation accuracy (ties: the earlier block), never on
    # the test set; its test accuracy is the headline.
    best = max(results, key=lambda block: results[block]["validation_accuracy"])
    report = {
        "backend": keras.backend.backend(),
        "tokenizer": args.tokenizer,
        "prior": args.prior,
        "prior_blocks": prior.num_layers,
        "data": args.data,
        "train_images": len(train_ids),
        "test_images": len(test_ids),
        "settings": {
            **{k: v for k, v in settings.items() if k != "num_classes"},
            "batch_size": args.batch_size,
        },
        "blocks": results,
        "best_block": int(best),
        "best_block_chosen_on": "validation accuracy",
        "best_test_accuracy": results[best]["test_accuracy"],
        "pixel_baseline": baselines.get("raw pixels"),
        "reconstruction_baseline": baselines.get("reconstructions"),
        "bag_of_codes_baseline": baselines.get("bag of codes"),
        "feature_seconds": features_seconds,
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
            reference_lines=references or None,
        )
    print(
        f"best: block {best} ({results[best]['test_accuracy']:.4f}); wrote {args.output}/: "
        "probe.json, probe_curve.png",
        flush=True,
    )
    return report


if __name__ == "__main__":
    main()
