"""Study (c) of the paper's findings at small scale: linear-probe accuracy per block of
unconditional priors, as they train and against controls.

The paper's understanding result (section 4.2): the average-pooled features of a frozen VIM's
middle blocks are linearly separable by class, better than the last block's, and better as the
generative model improves. Here, on Fashion-MNIST tokens of the shipped tokenizer
(`vit_vqgan_tiny_fashion_mnist`):

1. Every training image (60000 with `apt-get install dataset-fashion-mnist`, else the shipped
   subset) and every test image is tokenized once.
2. Each prior of `--configs` (`LxW`: L blocks of width W, W / 32 heads, MLP 4W, no dropout,
   *unconditional*: the probe's features never depend on a label) is trained on the training
   tokens (`--augment`: on tokens of randomly flipped and shifted images, tokenized as they
   are drawn, the paper's stage-2 setting), and its weights kept at each of `--probe-at`
   steps: the same prior at several training lengths.
3. Every block of every kept prior goes through the probe protocol of
   `keras_vim.metrics.fit_linear_probe` (standardized features, L-BFGS, L2 strength chosen on
   a validation split of the training images, refitted on all of them, scored on every test
   image), with its held-out bits per token beside it.
4. Controls through the same protocol: raw pixels, the tokenizer's reconstructions as pixels,
   the bag of codes (each image's token histogram), and randomly initialized priors of the same
   shape (`--random-seeds`). Each final prior's best block is probed again with the
   validation split of every `--probe-seeds` seed.

    KERAS_BACKEND=jax python -m benchmarks.reproduce.probe_depth
    KERAS_BACKEND=jax python -m benchmarks.reproduce.probe_depth --configs 4x128 8x128 --augment

Writes `probe_depth.json`, `probe_depth.png` (test accuracy per block, one line per prior
and training length, the controls as dashed lines) and each trained prior as a preset directory
(`priors/8x128`, `priors/8x128_aug`, ...) to `--output` (default
`benchmarks/reproduce/results/`). The JSON is rewritten after every probe; a later run with
other `--configs`, `--steps` or `--augment` adds its rows to it and skips the rows it already
holds, so an interrupted run continues and the study grows one command at a time.
"""

import argparse
import json
import os
import re
import time

import keras
import numpy as np

import keras_vim
from benchmarks.reproduce.training import compile_prior
from keras_vim.metrics import bag_of_codes_features, fit_linear_probe, probe_features
from keras_vim.metrics.linear_probe import L2_GRID
from keras_vim.models import VIM, VQGANBase
from keras_vim.pipelines import decode_in_batches

TOKENIZER = "vit_vqgan_tiny_fashion_mnist"


def prior_shape(name):
    """`(layers, width)` of a prior named `LxW` (e.g. `8x128`); W must be a multiple of 32."""
    match = re.fullmatch(r"(\d+)x(\d+)", name)
    if not match or int(match[2]) % 32:
        raise ValueError(
            f"A prior is named `LxW` with W a multiple of 32 (e.g. 8x128), got {name!r}."
        )
    return int(match[1]), int(match[2])


def prior_config(name, tokenizer):
    """The VIM config of `LxW` (e.g. `8x128`) for `tokenizer`'s grids: unconditional."""
    layers, width = prior_shape(name)
    return {
        "vocabulary_size": tokenizer.num_codes,
        "grid_size": tuple(tokenizer.grid_size),
        "num_classes": None,
        "num_layers": layers,
        "num_heads": width // 32,
        "hidden_dim": width,
        "mlp_dim": 4 * width,
        "dropout": 0.0,
    }


class KeepWeights(keras.callbacks.Callback):
    """Copies the model's weights after each of `steps` (1-based) training steps."""

    def __init__(self, steps):
        super().__init__()
        self.steps, self.kept, self.seconds = set(steps), {}, {}
        self._step, self._start = 0, None

    def on_train_begin(self, logs=None):
        self._start = time.time()

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self._step in self.steps:
            self.kept[self._step] = [np.array(w) for w in self.model.get_weights()]
            self.seconds[self._step] = round(time.time() - self._start, 1)


def train_prior(config, data, args, tokenizer=None, images=None):
    """A prior of `config` trained `args.steps` steps from `args.seed` on the token ids `data`
    (or, with `args.augment`, on `images` augmented and tokenized as drawn); returns the model
    and the weights kept at `args.probe_at`, with the seconds to each."""
    keras.utils.set_random_seed(args.seed)
    prior = compile_prior(VIM(**config), args.steps, args.learning_rate)
    if args.augment:
        batches = keras_vim.data.image_dataset(
            images, batch_size=args.batch_size, augment=True, seed=args.seed, repeat=True
        )
        data = keras_vim.data.tokenize_on_the_fly(tokenizer, batches)
    else:
        data = keras_vim.data.token_dataset(
            data, batch_size=args.batch_size, seed=args.seed, repeat=True, drop_remainder=True
        )
    keep = KeepWeights(args.probe_at)
    prior.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0, callbacks=[keep])
    return prior, keep


def held_out_bits(prior, ids):
    data = keras_vim.data.token_dataset(ids, batch_size=250, shuffle=False)
    return float(prior.evaluate(data, verbose=0, return_dict=True)["bits_per_token"])


class Study:
    """The probe protocol with the study's settings, and the JSON it fills."""

    def __init__(self, args, record, json_path, train_labels, test_labels):
        self.args, self.record, self.json_path = args, record, json_path
        self.train_labels, self.test_labels = train_labels, test_labels

    def done(self, name):
        return any(result["name"] == name for result in self.record["results"])

    def probe(self, train_features, test_features, seed=0):
        start = time.time()
        report, _ = fit_linear_probe(
            train_features,
            self.train_labels,
            test_features,
            self.test_labels,
            l2_grid=self.args.l2_grid,
            seed=seed,
        )
        keys = ("train_accuracy", "validation_accuracy", "test_accuracy", "l2", "converged")
        return {**{k: report[k] for k in keys}, "seconds": round(time.time() - start, 1)}

    def save(self, label, result):
        self.record["results"].append(result)
        summary = {k: v for k, v in result.items() if k in ("test_accuracy", "best_block")}
        print(f"{label}: {json.dumps(summary)}", flush=True)
        with open(self.json_path, "w") as f:
            json.dump(self.record, f, indent=2)

    def features_row(self, kind, name, train_features, test_features, **extra):
        """One control row: features `(N, d)` through the protocol (validation seed: the
        first probe seed). A fixed feature set's fit is deterministic; another validation
        split could only pick another L2 strength, for up to ~8x the L-BFGS time of 784
        pixel dimensions, so the controls are fitted once."""
        report = self.probe(train_features, test_features, self.args.probe_seeds[0])
        self.save(name, {"kind": kind, "name": name, **extra, **seeds_summary([report])})

    def blocks_row(self, kind, name, prior, train_ids, test_ids, headline, **extra):
        """Every block of `prior` through the protocol (validation seed 0); with `headline`,
        the best block again under every probe seed."""
        blocks = list(range(1, prior.num_layers + 1))
        train_features = probe_features(prior, train_ids, block=blocks)
        test_features = probe_features(prior, test_ids, block=blocks)
        first = self.args.probe_seeds[0]
        per_block = [
            self.probe(train, test, first) for train, test in zip(train_features, test_features)
        ]
        best = int(np.argmax([report["validation_accuracy"] for report in per_block]))
        result = {
            "kind": kind,
            "name": name,
            **extra,
            "blocks": per_block,
            "best_block": best + 1,  # chosen on validation accuracy, never on the test set
            "test_accuracy": per_block[best]["test_accuracy"],
        }
        if headline:
            reports = [per_block[best]] + [
                self.probe(train_features[best], test_features[best], s)
                for s in self.args.probe_seeds[1:]
            ]
            result["best_block_seeds"] = seeds_summary(reports)
        self.save(name, result)


def seeds_summary(reports):
    """The probe reports of several validation seeds, with their test accuracies' mean and
    standard deviation."""
    accuracies = [report["test_accuracy"] for report in reports]
    return {
        "test_accuracy": float(np.mean(accuracies)),
        "test_accuracy_std": float(np.std(accuracies)),
        "seeds": reports,
    }


def save_chart(results, path):
    """Test accuracy per block (one line per trained prior and length), the controls as
    references. The random-init rows stay in the table only: 10-15 points below the trained
    curves, they would squeeze those into a few pixels of the chart."""
    curves = [r for r in results if "blocks" in r and r.get("kind") != "random init"]
    depth = max(len(r["blocks"]) for r in curves)
    series = {}
    for r in curves:
        values = [b["test_accuracy"] for b in r["blocks"]]
        series[r["name"]] = values + [values[-1]] * (depth - len(values))  # shorter: flat tail
    references = {r["name"]: r["test_accuracy"] for r in results if "blocks" not in r}
    return keras_vim.utils.save_line_plot(
        path,
        list(range(1, depth + 1)),
        series,
        title="Linear probe per block, Fashion-MNIST",
        x_label="Transformer block",
        y_label="top-1 test accuracy",
        reference_lines=references,
    )


def markdown_table(record):
    rows = ["| features | bits/token | test top-1 % per block | best block (val.) | its test % |"]
    rows.append("|---|---|---|---|---|")
    for r in record["results"]:
        if "blocks" in r:
            blocks = " / ".join(f"{100 * b['test_accuracy']:.1f}" for b in r["blocks"])
            seeds = r.get("best_block_seeds")
            best = f"{100 * r['test_accuracy']:.1f}"
            if seeds:
                best = (
                    f"{100 * seeds['test_accuracy']:.1f} ± {100 * seeds['test_accuracy_std']:.1f}"
                )
            bits = r.get("held_out_bits_per_token")
            bits = "-" if bits is None else f"{bits:.3f}"
            rows.append(f"| {r['name']} | {bits} | {blocks} | {r['best_block']} | {best} |")
        else:
            rows.append(f"| {r['name']} | - | - | - | {100 * r['test_accuracy']:.1f} |")
    return "\n".join(rows)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=["8x128"], help="Priors, `LxW`.")
    parser.add_argument("--steps", type=int, default=3000, help="Training steps per prior.")
    parser.add_argument(
        "--probe-at",
        type=int,
        nargs="+",
        default=None,
        help="Training steps at which each prior is probed (default: steps/6, steps/2, steps).",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="Peak learning rate.")
    parser.add_argument(
        "--augment", action="store_true", help="Train on flipped and shifted images' tokens."
    )
    parser.add_argument("--seed", type=int, default=0, help="Seed of the priors' training.")
    parser.add_argument("--random-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--probe-seeds",
        type=int,
        nargs="+",
        default=[0, 1, 2],
        help="Validation-split seeds of the headline rows (the first one for every row).",
    )
    parser.add_argument("--l2-grid", type=float, nargs="+", default=list(L2_GRID))
    parser.add_argument(
        "--train-images",
        type=int,
        default=0,
        help="Train the priors on the first N training images (0: all).",
    )
    parser.add_argument(
        "--probe-train-images",
        type=int,
        default=12000,
        help="Fit the probes on the first N of those (0: all; default 12000, as "
        "recipes/linear_probe.py: a pass of the prior over all 60000 takes minutes per prior).",
    )
    parser.add_argument(
        "--test-images", type=int, default=0, help="Score on the first N test images (0: all)."
    )
    parser.add_argument(
        "--output", default=os.path.join("benchmarks", "reproduce", "results"), help="Directory."
    )
    parser.add_argument(
        "--replot", action="store_true", help="Only redraw the PNG from the JSON in --output."
    )
    args = parser.parse_args(argv)
    args.probe_at = sorted(set(args.probe_at or [args.steps // 6, args.steps // 2, args.steps]))
    if (
        args.steps < 1
        or args.batch_size < 1
        or min(args.train_images, args.probe_train_images, args.test_images) < 0
    ):
        parser.error("--steps and --batch-size must be >= 1, the image counts >= 0.")
    if args.probe_at[0] < 1 or args.probe_at[-1] > args.steps:
        parser.error(f"--probe-at steps must be in [1, --steps={args.steps}].")
    if not args.probe_seeds or min(args.l2_grid) <= 0:
        parser.error("--probe-seeds needs a seed; --l2-grid strengths must be > 0.")
    for name in args.configs:
        try:
            prior_shape(name)
        except ValueError as error:
            parser.error(f"--configs: {error}")
    return args


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.output, exist_ok=True)
    json_path = os.path.join(args.output, "probe_depth.json")
    png_path = os.path.join(args.output, "probe_depth.png")
    if args.replot:
        with open(json_path) as f:
            record = json.load(f)
        print(f"wrote {save_chart(record['results'], png_path)}")
        print(markdown_table(record))
        return record

    start = time.time()
    train_images, train_labels = keras_vim.data.load_fashion_mnist("train")
    test_images, test_labels = keras_vim.data.load_fashion_mnist("test")
    if args.test_images:
        test_images, test_labels = test_images[: args.test_images], test_labels[: args.test_images]
    if args.train_images:
        train_images, train_labels = (
            train_images[: args.train_images],
            train_labels[: args.train_images],
        )
    train_labels, test_labels = train_labels.astype("int32"), test_labels.astype("int32")
    tokenizer = VQGANBase.from_preset(TOKENIZER)
    cache = os.path.join(args.output, "cache")
    ids = {}
    for split, images in (("train", train_images), ("test", test_images)):
        ids[split], _ = keras_vim.data.tokenize_dataset(
            tokenizer,
            images,
            cache_path=os.path.join(cache, f"probe_depth_tokens_{split}.npz"),
            key=f"fashion_mnist/{split}/{len(images)}",
            verbose=False,
        )
    # The probes fit on the first `--probe-train-images` training images.
    probe_count = min(args.probe_train_images or len(train_images), len(train_images))
    command = (
        "KERAS_BACKEND=jax python -m benchmarks.reproduce.probe_depth "
        f"--configs {' '.join(args.configs)} --steps {args.steps} --probe-at "
        f"{' '.join(map(str, args.probe_at))} --batch-size {args.batch_size} --learning-rate "
        f"{args.learning_rate:g} --seed {args.seed} --random-seeds "
        f"{' '.join(map(str, args.random_seeds))} --probe-seeds "
        f"{' '.join(map(str, args.probe_seeds))}" + (" --augment" if args.augment else "")
    )
    record = {
        "study": "linear probe per block (paper section 4.2)",
        "commands": [],
        "backend": keras.backend.backend(),
        "tokenizer": TOKENIZER,
        "train_images": len(train_images),
        "test_images": len(test_images),
        "probe_train_images": probe_count,
        "probe": {
            "l2_grid": args.l2_grid,
            "validation_fraction": 0.1,
            "probe_seeds": args.probe_seeds,
            "features": "average-pooled block outputs over the image tokens (no start token)",
        },
        "results": [],
    }
    if os.path.exists(json_path):  # grow the earlier study if it measured the same way
        with open(json_path) as f:
            earlier = json.load(f)
        same = ("tokenizer", "train_images", "test_images", "probe_train_images", "probe")
        if any(earlier.get(key) != record[key] for key in same):
            raise SystemExit(
                f"{json_path} was measured with other data or probe settings; use another "
                "--output (or delete it)."
            )
        record = earlier
    record["commands"] = [c for c in record["commands"] if c != command] + [command]
    study = Study(args, record, json_path, train_labels[:probe_count], test_labels)
    probe_images, probe_ids = train_images[:probe_count], ids["train"][:probe_count]
    if not study.done("raw pixels"):
        pixels = [images.reshape(len(images), -1) / 255.0 for images in (probe_images, test_images)]
        study.features_row("control", "raw pixels", *pixels)
        del pixels
    if not study.done("reconstructions"):
        reconstructions = [
            decode_in_batches(tokenizer, split) for split in (probe_ids, ids["test"])
        ]
        study.features_row(
            "control",
            "reconstructions",
            *[images.reshape(len(images), -1) for images in reconstructions],
        )
        del reconstructions
    if not study.done("bag of codes"):
        study.features_row(
            "control",
            "bag of codes",
            *[
                bag_of_codes_features(split, tokenizer.num_codes)
                for split in (probe_ids, ids["test"])
            ],
        )
    for name in args.configs:
        config = prior_config(name, tokenizer)
        for seed in args.random_seeds:
            if study.done(f"{name} random init (seed {seed})"):
                continue
            keras.utils.set_random_seed(seed)
            study.blocks_row(
                "random init",
                f"{name} random init (seed {seed})",
                VIM(**config),
                probe_ids,
                ids["test"],
                headline=False,
                config=config,
                seed=seed,
            )
        labels = {
            step: f"{name}{' +aug' if args.augment else ''}, {step} of {args.steps} steps"
            for step in args.probe_at
        }
        if all(study.done(label) for label in labels.values()):
            continue
        prior, keep = train_prior(config, ids["train"], args, tokenizer, train_images)
        # The fully trained prior, as a preset `recipes/linear_probe.py --prior` takes.
        saved = os.path.join(args.output, "priors", labels[args.steps].split(",")[0])
        prior.save_to_preset(saved.replace(" ", "_").replace("+", ""))
        for step, label in labels.items():
            prior.set_weights(keep.kept[step])
            study.blocks_row(
                "trained",
                label,
                prior,
                probe_ids,
                ids["test"],
                headline=step == args.steps,
                config=config,
                steps=step,
                training_seconds=keep.seconds[step],
                held_out_bits_per_token=held_out_bits(prior, ids["test"]),
                augment=args.augment,
            )
    record["seconds"] = round(time.time() - start, 1)
    with open(json_path, "w") as f:
        json.dump(record, f, indent=2)
    print(f"wrote {json_path} and {save_chart(record['results'], png_path)}")
    print(markdown_table(record))
    return record


if __name__ == "__main__":
    main()
