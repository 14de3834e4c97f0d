"""What the tokenizer studies share: the seeded training batches, the training run of one
configuration (paper losses without perceptual term or GAN), the test images, and the
measurements taken on them."""

import json
import os
import time

import keras
import numpy as np

import keras_vim

# The metrics copied from `evaluate_tokenizer`'s report into the results.
REPORTED = (
    "codebook_usage",
    "codebook_usage_total",
    "dead_codes",
    "perplexity",
    "l2",
    "psnr",
    "frechet_distance",
)


def train_batches(batch_size, seed):
    """The seeded, repeated Fashion-MNIST training batches. Each `fit` iterates them afresh
    from the first pass, whose order the seed alone fixes: every configuration sees the same
    batches. Build them before the first `keras.utils.set_random_seed` (see shuffling.py)."""
    train_data, _ = keras_vim.data.load_dataset(
        "fashion_mnist",
        "train",
        batch_size=batch_size,
        labels=False,
        repeat=True,
        drop_remainder=True,
        seed=seed,
    )
    return train_data


def train_tokenizer(build, train_data, steps, learning_rate, seed, verbose=False):
    """Builds a tokenizer with `build()` after seeding and trains it for `steps` steps (L2 +
    logit-Laplace + VQ; no perceptual term, no GAN). Returns the model, seconds and the last
    training logs."""
    keras.utils.set_random_seed(seed)
    model = build()
    optimizer = keras_vim.training.vit_vqgan_optimizer(
        total_steps=steps,
        warmup_steps=max(1, steps // 10),
        peak_learning_rate=learning_rate,
        final_learning_rate=learning_rate / 10,
    )
    model.compile(
        optimizer=optimizer,
        discriminator_optimizer=keras_vim.training.vit_vqgan_optimizer(),
        perceptual_weight=0.0,
        adversarial_weight=0.0,
        discriminator_start=steps + 1,  # never reached: no GAN phase
    )
    start = time.time()
    history = model.fit(train_data, steps_per_epoch=steps, epochs=1, verbose=2 if verbose else 0)
    seconds = time.time() - start
    final = {name: float(values[-1]) for name, values in history.history.items() if values}
    return model, seconds, final


def test_images(count):
    """The first `count` Fashion-MNIST test images (all 10000 with None), in [0, 1]."""
    test_data, _ = keras_vim.data.load_dataset(
        "fashion_mnist", "test", batch_size=256, labels=False, shuffle=False
    )
    batches, total = [], 0
    for batch in test_data.as_numpy_iterator():
        batches.append(batch)
        total += len(batch)
        if count is not None and total >= count:
            break
    return np.concatenate(batches)[:count]


def measure(model, images, classifier):
    """The `REPORTED` metrics of `keras_vim.metrics.evaluate_tokenizer` on `images`, with the
    reconstruction Fréchet distance on `classifier`'s features."""
    report = keras_vim.metrics.evaluate_tokenizer(
        model, images, feature_extractor=classifier.features
    )
    return {name: report[name] for name in REPORTED}


def add_study_arguments(parser, default_steps):
    """The flags every tokenizer study takes: training length and settings, evaluation size,
    output directory, logging and `--replot`."""
    parser.add_argument(
        "--steps", type=int, default=default_steps, help="Training steps per tokenizer."
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="Peak learning rate.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--eval-images", type=int, default=None, help="Test images to measure (default: all)."
    )
    parser.add_argument(
        "--output", default=os.path.join("benchmarks", "reproduce", "results"), help="Directory."
    )
    parser.add_argument("--verbose", action="store_true", help="Keras' per-epoch log lines.")
    parser.add_argument(
        "--replot", action="store_true", help="Only redraw the PNG from the JSON in --output."
    )


def add_result(record, result, json_path, label, summary):
    """Appends `result` to `record["results"]`, prints `label: summary` and rewrites the JSON,
    so an interrupted study keeps what it measured."""
    record["results"].append(result)
    print(f"{label}: {json.dumps(summary)}", flush=True)
    with open(json_path, "w") as f:
        json.dump(record, f, indent=2)


def replot(json_path, png_path, save_chart, markdown_table):
    """Redraws a study's chart from its JSON and prints its Markdown table; returns the record."""
    with open(json_path) as f:
        record = json.load(f)
    print(f"wrote {save_chart(record['results'], png_path)}")
    print(markdown_table(record))
    return record
