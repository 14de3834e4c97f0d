"""What the tokenizer studies share: the seeded training batches, the training run of one
configuration (paper losses without perceptual term or GAN) with its codebook probes from step
0, the test images, and the measurements taken on them."""

import json
import os
import time

import keras
import numpy as np
from keras import ops

import keras_vim

# The metrics copied from `evaluate_tokenizer`'s report into the results.
REPORTED = (
    "codebook_usage",
    "codebook_usage_total",
    "distinct_code_usage",
    "codes_for_90_percent",
    "median_nearest_code_cosine",
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


def train_tokenizer(
    build,
    train_data,
    steps,
    learning_rate,
    seed,
    verbose=False,
    probe_images=None,
    probe_every=None,
    final_fraction=0.5,
    compile_overrides=None,
):
    """Builds a tokenizer with `build()` after seeding and trains it for `steps` steps (L2 +
    logit-Laplace + VQ; no perceptual term, no GAN) on the paper's schedule shape: warm-up over
    10% of the run, then cosine to `final_fraction` of the peak (the paper's 1e-4 -> 5e-5).

    With `probe_images`, the codebook is probed (`probe`) at step 0 and every `probe_every`
    steps. Returns the model, seconds of training (probes included), the last training logs
    and the probes (a list of records, empty without `probe_images`).
    """
    every = probe_every or steps
    if steps % every:
        raise ValueError(f"`probe_every` ({every}) must divide `steps` ({steps}).")
    keras.utils.set_random_seed(seed)
    model = build()
    optimizer = keras_vim.training.vit_vqgan_optimizer(
        total_steps=steps,
        warmup_steps=max(1, steps // 10),
        peak_learning_rate=learning_rate,
        final_learning_rate=learning_rate * final_fraction,
    )
    model.compile(
        optimizer=optimizer,
        discriminator_optimizer=keras_vim.training.vit_vqgan_optimizer(),
        perceptual_weight=0.0,
        adversarial_weight=0.0,
        discriminator_start=steps + 1,  # never reached: no GAN phase
        **(compile_overrides or {}),
    )
    probes = [] if probe_images is None else [Probe(probe_images, every)]
    start = time.time()
    history = model.fit(
        train_data,
        steps_per_epoch=every,
        epochs=steps // every,
        verbose=2 if verbose else 0,
        callbacks=probes,
    )
    seconds = time.time() - start
    final = {name: float(values[-1]) for name, values in history.history.items() if values}
    return model, seconds, final, probes[0].records if probes else []


# --- codebook probes ------------------------------------------------------------------------

# What `probe` measures, in the order the curve charts draw them.
CURVE_MEASURES = (
    "codebook_usage",
    "distinct_code_usage",
    "perplexity",
    "latent_mean_cosine",
    "code_rotation_degrees",
    "code_norm",
    "gradient_norm_codebook",
    "gradient_norm_encoder",
    "l2",
)
# The gradient norms are taken on this many of the probe images (a forward and backward pass).
GRADIENT_IMAGES = 32


def unit(x):
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def unit_latents(model, images):
    """The encoder's latents of `images` in the lookup space, l2-normalized: `(N, code_dim)`."""
    latents = model.quantizer.project(model.encoder(model.prepare_images(images)))
    return unit(np.reshape(ops.convert_to_numpy(latents), (-1, model.code_dim)))


def gradient_norms(model, images, cache):
    """L2 norms of the total generator loss's gradient reaching the codebook and the encoder,
    on `images` at the current weights; `{}` off JAX (the probe differentiates with
    `jax.grad`, as the JAX trainer does). `cache` (a dict) keeps the compiled function."""
    if keras.backend.backend() != "jax":
        return {}
    import jax

    variables, frozen = model.trainable_variables, model.non_trainable_variables
    if "gradient" not in cache:

        def loss(values, frozen_values, batch):
            mapping = list(zip(variables, values)) + list(zip(frozen, frozen_values))
            with keras.StatelessScope(state_mapping=mapping):
                total, _, _ = model.generator_losses(model.prepare_images(batch))
            return total

        cache["gradient"] = jax.jit(jax.grad(loss))
    grads = cache["gradient"]([v.value for v in variables], [v.value for v in frozen], images)
    by_id = {id(v): g for v, g in zip(variables, grads)}

    def norm(layer_variables):
        return float(np.sqrt(sum(float(np.sum(np.square(by_id[id(v)]))) for v in layer_variables)))

    return {
        "gradient_norm_codebook": norm([model.quantizer.codebook]),
        "gradient_norm_encoder": norm(model.encoder.trainable_variables),
    }


def probe(model, images, initial_codebook, cache=None):
    """Codebook measures of `model` on `images` (one batch): usage, distinct usage (codes
    within cosine 0.95 merged), perplexity, codes covering 90% of the tokens, the mean pairwise
    cosine of the encoder's latents, the mean angle the codes turned since `initial_codebook`,
    the mean stored code norm, L2, and (JAX) the gradient norms reaching codebook and encoder."""
    report = keras_vim.metrics.evaluate_tokenizer(model, images, batch_size=len(images))
    latents = unit_latents(model, images)
    sample = latents[np.random.default_rng(0).permutation(len(latents))[:1024]]
    cosines = sample @ sample.T
    off_diagonal = cosines[~np.eye(len(sample), dtype=bool)]
    stored = ops.convert_to_numpy(model.quantizer.codebook)
    turned = np.sum(unit(stored) * unit(initial_codebook), axis=-1)
    return {
        "codebook_usage": report["codebook_usage"],
        "perplexity": report["perplexity"],
        "distinct_code_usage": report["distinct_code_usage"],
        "codes_for_90_percent": report["codes_for_90_percent"],
        "latent_mean_cosine": float(off_diagonal.mean()),
        "code_rotation_degrees": float(np.degrees(np.arccos(np.clip(turned, -1, 1))).mean()),
        "code_norm": float(np.linalg.norm(stored, axis=-1).mean()),
        "l2": report["l2"],
        **gradient_norms(model, images[:GRADIENT_IMAGES], {} if cache is None else cache),
    }


class Probe(keras.callbacks.Callback):
    """Probes the codebook at the start of training and after each epoch of `every` steps;
    the records (with the epoch's training logs as `train_*`) are in `records`."""

    def __init__(self, images, every):
        super().__init__()
        self.images, self.every, self.records, self.cache = images, every, [], {}

    def on_train_begin(self, logs=None):
        self.initial = ops.convert_to_numpy(self.model.quantizer.codebook).copy()
        self.records.append({"step": 0, **self._probe()})

    def on_epoch_end(self, epoch, logs=None):
        train = {f"train_{k}": float(v) for k, v in (logs or {}).items()}
        self.records.append({"step": (epoch + 1) * self.every, **self._probe(), **train})

    def _probe(self):
        return probe(self.model, self.images, self.initial, self.cache)


def save_curves_chart(curves, path, measures=CURVE_MEASURES, columns=3):
    """One line plot per measure against the step, a line per `{name: probe records}` entry,
    tiled `columns` wide into the PNG at `path`; measures no record has are left out."""
    from PIL import Image

    tiles = []
    for measure in measures:
        series = {
            name: [record[measure] for record in records]
            for name, records in curves.items()
            if all(measure in record for record in records)
        }
        if not series:
            continue
        steps = [record["step"] for record in next(iter(curves.values()))]
        tile = f"{path[:-4]}_{measure}.png"
        keras_vim.utils.save_line_plot(tile, steps, series, title=measure, x_label="step")
        tiles.append(Image.open(tile))
    width, height = tiles[0].size
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * width, rows * height), "white")
    for i, tile in enumerate(tiles):
        sheet.paste(tile, ((i % columns) * width, (i // columns) * height))
        os.remove(tile.filename)
    sheet.save(path)
    return path


def compile_prior(prior, steps, learning_rate):
    """Compiles a study's VIM prior: `vim_optimizer` over `steps`, a 5% warm-up to
    `learning_rate`, then decay to a tenth of it."""
    warmup = max(1, steps // 20)
    prior.compile(
        optimizer=keras_vim.training.vim_optimizer(
            total_steps=steps,
            warmup_steps=warmup,
            peak_learning_rate=learning_rate,
            final_learning_rate=learning_rate / 10,
            decay_start=warmup,
        )
    )
    return prior


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


def add_study_arguments(parser, default_steps, default_batch_size=64, default_learning_rate=1e-3):
    """The flags every tokenizer study takes: training length and settings, evaluation size,
    output directory, logging and `--replot`."""
    parser.add_argument(
        "--steps", type=int, default=default_steps, help="Training steps per tokenizer."
    )
    parser.add_argument("--batch-size", type=int, default=default_batch_size)
    if default_learning_rate is not None:  # None: the study fixes it per configuration
        parser.add_argument(
            "--learning-rate", type=float, default=default_learning_rate, help="Peak learning rate."
        )
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


def add_probe_argument(parser, default):
    parser.add_argument(
        "--probe-every",
        type=int,
        default=default,
        help="Steps between codebook probes on 256 test images (must divide --steps).",
    )


def check_probe_argument(parser, args):
    if args.probe_every < 1 or args.steps < 1 or args.steps % args.probe_every:
        parser.error("--steps and --probe-every must be >= 1, and --probe-every divide --steps.")


def percent(share):
    """`share` in percent for a table, `-` when it was not measured (older records)."""
    return "-" if share is None else f"{100 * share:.1f}"


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
