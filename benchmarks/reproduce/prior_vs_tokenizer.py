"""Study (d) of the paper's findings at small scale: does a better tokenizer give a better prior?

Takes the best and the worst tokenizer of study (a) (by reconstruction Fréchet distance in
`codebook_ablation.json`, or the lookups named with `--configs`), trains each again exactly as
study (a) did (same seed, steps and batches), tokenizes the same Fashion-MNIST training images
with it, trains the same class-conditional `vim_tiny` prior on each set of tokens (same seed,
steps and batches), and samples the same number of images per class from each (temperature 1,
no top-k/top-p, no guidance: the paper's sampling). The samples are measured against the test
images on the shipped Fashion-MNIST classifier: domain Fréchet distance and the accuracy with
which it recognises the requested classes. The prior's held-out bits per token are reported
too, though they do not compare across tokenizers (a collapsed codebook is easy to predict).

    KERAS_BACKEND=jax python -m benchmarks.reproduce.prior_vs_tokenizer [--prior-steps 600]

Writes `prior_vs_tokenizer.json` and `prior_vs_tokenizer.png` (samples, one row per class and
tokenizer) to `--output` (default `benchmarks/reproduce/results/`).
"""

import argparse
import functools
import json
import os
import time

import keras
import numpy as np

import keras_vim
from benchmarks.reproduce.codebook_ablation import build_tokenizer
from benchmarks.reproduce.training import (
    add_result,
    compile_prior,
    measure,
    test_images,
    train_batches,
    train_tokenizer,
)
from keras_vim.models import VIM


def pick_configs(ablation, names=None):
    """The configurations of study (a) to compare: `names` (e.g. `["dim8_l2", "dim256_l2"]`),
    or the best and the worst by reconstruction Fréchet distance. `ablation` is study (a)'s
    JSON record; returns a list of `{name, code_dim, l2_normalize_codes, study_a_test}`."""
    results = {r["name"]: r for r in ablation["results"]}
    if names:
        unknown = [name for name in names if name not in results]
        if unknown:
            raise ValueError(
                f"`--configs` {unknown} are not among study (a)'s results {sorted(results)}."
            )
    else:
        ranked = sorted(results.values(), key=lambda r: r["test"]["frechet_distance"])
        names = [ranked[0]["name"], ranked[-1]["name"]]
    return [
        {
            "name": name,
            "code_dim": results[name]["code_dim"],
            "l2_normalize_codes": results[name]["l2_normalize_codes"],
            "study_a_test": results[name]["test"],
        }
        for name in names
    ]


def training_images(count):
    """The first `count` Fashion-MNIST training images and labels, in the file's order."""
    images, labels = keras_vim.data.load_fashion_mnist("train")
    return images[:count], labels[:count].astype("int32")


def train_prior(ids, labels, args):
    """`vim_tiny` trained on `(ids, labels)` from the fixed seed; returns it and its seconds."""
    keras.utils.set_random_seed(args.seed)
    prior = compile_prior(VIM.from_preset("vim_tiny"), args.prior_steps, args.prior_learning_rate)
    data = keras_vim.data.token_dataset(
        ids, labels, batch_size=64, seed=args.seed, repeat=True, drop_remainder=True
    )
    start = time.time()
    prior.fit(data, steps_per_epoch=args.prior_steps, epochs=1, verbose=0)
    return prior, time.time() - start


def sample_report(prior, tokenizer, test, classifier, args):
    """Samples `--samples-per-class` images of each class; their domain FD to `test` and the
    classifier's accuracy on the requested classes. Returns `(report, images)`."""
    class_ids = np.repeat(np.arange(prior.num_classes, dtype="int32"), args.samples_per_class)
    images = keras.ops.convert_to_numpy(
        prior.generate_images(tokenizer, class_ids=class_ids, temperature=1.0, seed=args.seed)
    )
    report = {
        "samples": len(images),
        "domain_frechet_distance": keras_vim.metrics.domain_frechet_distance(
            images, test, classifier
        ),
        "class_accuracy": keras_vim.metrics.class_accuracy(images, class_ids, classifier),
    }
    return report, images


def held_out_bits(prior, ids, labels):
    """The prior's bits per token on held-out token grids."""
    data = keras_vim.data.token_dataset(ids, labels, batch_size=250, shuffle=False)
    return float(prior.evaluate(data, verbose=0, return_dict=True)["bits_per_token"])


def save_samples(samples, path, per_class=8):
    """One row per class for each tokenizer, the tokenizers one under the other."""
    rows = []
    for images in samples.values():
        classes = images.reshape(10, -1, *images.shape[1:])[:, :per_class]
        rows.append(classes.reshape(-1, *images.shape[1:]))
    return keras_vim.utils.save_image_grid(np.concatenate(rows), path, per_class, scale=2)


def markdown_table(record):
    """The results as the README's Markdown table."""
    lines = [
        "| tokenizer of (a) | its recon. FD | its usage % | sample domain FD | sample class "
        "accuracy % | held-out bits/token |",
        "|---|---|---|---|---|---|",
    ]
    for r in record["results"]:
        a, s = r["retrained_tokenizer_test"], r["samples"]
        lines.append(
            f"| {r['name']} | {a['frechet_distance']:.1f} | {100 * a['codebook_usage']:.1f} "
            f"| {s['domain_frechet_distance']:.1f} | {100 * s['class_accuracy']:.1f} "
            f"| {r['held_out_bits_per_token']:.2f} |"
        )
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    results = os.path.join("benchmarks", "reproduce", "results")
    parser.add_argument(
        "--ablation",
        default=os.path.join(results, "codebook_ablation.json"),
        help="Study (a)'s JSON (its settings are reused to retrain the tokenizers).",
    )
    parser.add_argument("--configs", nargs="+", default=None, help="Study (a) names to compare.")
    parser.add_argument("--train-images", type=int, default=12000, help="Images tokenized.")
    parser.add_argument("--prior-steps", type=int, default=600)
    parser.add_argument("--prior-learning-rate", type=float, default=1e-3)
    parser.add_argument("--samples-per-class", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=results, help="Directory.")
    args = parser.parse_args(argv)
    if args.prior_steps < 1 or args.train_images < 1 or args.samples_per_class < 1:
        parser.error("--prior-steps, --train-images and --samples-per-class must be >= 1.")
    return args


def main(argv=None):
    args = parse_args(argv)
    with open(args.ablation) as f:
        ablation = json.load(f)
    configs = pick_configs(ablation, args.configs)
    os.makedirs(args.output, exist_ok=True)
    json_path = os.path.join(args.output, "prior_vs_tokenizer.json")
    train_data = train_batches(ablation["batch_size"], ablation["seed"])
    train_images, train_labels = training_images(args.train_images)
    test = test_images(None)
    test_labels = keras_vim.data.load_fashion_mnist("test")[1][: len(test)].astype("int32")
    classifier = keras_vim.metrics.load_domain_classifier()
    record = {
        "study": "prior quality against tokenizer quality",
        "command": "KERAS_BACKEND=jax python -m benchmarks.reproduce.prior_vs_tokenizer "
        f"--train-images {args.train_images} --prior-steps {args.prior_steps} "
        f"--samples-per-class {args.samples_per_class} --seed {args.seed}"
        + (f" --configs {' '.join(args.configs)}" if args.configs else ""),
        "backend": keras.backend.backend(),
        "tokenizer_training": {k: ablation[k] for k in ("steps", "batch_size", "learning_rate")},
        "prior": "vim_tiny",
        "prior_steps": args.prior_steps,
        "train_images": len(train_images),
        "test_images": len(test),
        "sampling": "temperature 1, no top-k / top-p, no guidance",
        "results": [],
    }
    samples = {}
    for config in configs:
        tokenizer, tokenizer_seconds, _, _ = train_tokenizer(
            functools.partial(
                build_tokenizer, config, ablation.get("changes_to_the_paper_setting")
            ),
            train_data,
            ablation["steps"],
            ablation["learning_rate"],
            ablation["seed"],
            # Studies (a) recorded before the paper's final learning rate decayed to peak / 10.
            final_fraction=ablation.get("final_learning_rate", ablation["learning_rate"] / 10)
            / ablation["learning_rate"],
        )
        ids, labels = keras_vim.data.tokenize_dataset(
            tokenizer, train_images, labels=train_labels, verbose=False
        )
        test_ids, _ = keras_vim.data.tokenize_dataset(tokenizer, test, verbose=False)
        prior, prior_seconds = train_prior(ids, labels, args)
        report, samples[config["name"]] = sample_report(prior, tokenizer, test, classifier, args)
        result = {
            **config,
            "retrained_tokenizer_test": measure(tokenizer, test, classifier),
            "tokenizer_seconds": round(tokenizer_seconds, 1),
            "prior_seconds": round(prior_seconds, 1),
            "held_out_bits_per_token": held_out_bits(prior, test_ids, test_labels),
            "samples": report,
        }
        add_result(record, result, json_path, config["name"], report)
    chart = save_samples(samples, os.path.join(args.output, "prior_vs_tokenizer.png"))
    print(f"wrote {json_path} and {chart}")
    print(markdown_table(record))
    return record


if __name__ == "__main__":
    main()
