"""Codebook health from step 0: how the tokenizer's codebook is used while it trains.

Trains `vit_vqgan_tiny` on Fashion-MNIST in a few configurations (see `CONFIGS`) and, every
`--probe-every` steps, encodes 256 fixed test images and records: the paper's usage, the
perplexity, the usage after merging near-duplicate codes (cosine > 0.95), the codes covering
90% of the tokens, the mean pairwise cosine of the encoder's latents, the mean angle the codes
turned since initialization, and the training losses averaged since the last probe.

    KERAS_BACKEND=jax python -m benchmarks.reproduce.codebook_curves [--steps 220]
    KERAS_BACKEND=jax python -m benchmarks.reproduce.codebook_curves --replot

Writes `codebook_curves.json` and `codebook_curves.png` (one panel per measure) to `--output`.
"""

import argparse
import os

import keras
import numpy as np
from keras import ops

import keras_vim
from benchmarks.reproduce.training import add_result, add_study_arguments, test_images
from keras_vim.models import VitVQGAN

# name: (model overrides, compile overrides, peak learning rate or None for --learning-rate).
CONFIGS = {
    # The library's defaults, as the main job trains its tokenizer.
    "default": ({}, {}, None),
    # The paper's recipe: no patch norm, no restarts, the VQ loss summed over the code
    # dimensions, the codebook initialized N(0, 1), peak learning rate 1e-4.
    "paper": (
        {
            "patch_norm": False,
            "restart_dead_codes": False,
            "vq_loss_reduction": "sum",
            "codebook_init_scale": 1.0,
        },
        {},
        1e-4,
    ),
    # The paper's recipe with the VQ loss averaged over the code dimensions.
    "paper_mean_vq": (
        {"patch_norm": False, "restart_dead_codes": False, "codebook_init_scale": 1.0},
        {},
        1e-4,
    ),
}
MEASURES = (
    "codebook_usage",
    "perplexity",
    "distinct_code_usage",
    "latent_mean_cosine",
    "code_rotation_degrees",
    "l2",
)


def _unit(x):
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def probe(model, images, initial_codebook):
    """Codebook measures of `model` on `images` (one batch)."""
    report = keras_vim.metrics.evaluate_tokenizer(model, images, batch_size=len(images))
    latents = model.quantizer.project(model.encoder(model.prepare_images(images)))
    latents = _unit(np.reshape(ops.convert_to_numpy(latents), (-1, model.code_dim)))
    sample = latents[np.random.default_rng(0).permutation(len(latents))[:1024]]
    cosines = sample @ sample.T
    off_diagonal = cosines[~np.eye(len(sample), dtype=bool)]
    codebook = _unit(ops.convert_to_numpy(model.quantizer.codebook))
    turned = np.sum(codebook * _unit(initial_codebook), axis=-1)
    return {
        "codebook_usage": report["codebook_usage"],
        "perplexity": report["perplexity"],
        "distinct_code_usage": report["distinct_code_usage"],
        "codes_for_90_percent": report["codes_for_90_percent"],
        "latent_mean_cosine": float(off_diagonal.mean()),
        "code_rotation_degrees": float(np.degrees(np.arccos(np.clip(turned, -1, 1))).mean()),
        "l2": report["l2"],
    }


class _Probe(keras.callbacks.Callback):
    def __init__(self, images, every):
        super().__init__()
        self.images, self.every, self.records = images, every, []

    def on_train_begin(self, logs=None):
        self.initial = ops.convert_to_numpy(self.model.quantizer.codebook).copy()
        self.records.append({"step": 0, **probe(self.model, self.images, self.initial)})

    def on_epoch_end(self, epoch, logs=None):
        train = {f"train_{k}": float(v) for k, v in (logs or {}).items()}
        step = (epoch + 1) * self.every
        self.records.append({"step": step, **probe(self.model, self.images, self.initial), **train})


def run_config(name, args, images):
    """Trains one configuration with probes; returns its record."""
    model_overrides, compile_overrides, learning_rate = CONFIGS[name]
    learning_rate = learning_rate or args.learning_rate
    train_data, _ = keras_vim.data.load_dataset(
        "fashion_mnist",
        "train",
        batch_size=args.batch_size,
        labels=False,
        repeat=True,
        drop_remainder=True,
        seed=args.seed,
    )
    keras.utils.set_random_seed(args.seed)
    model = VitVQGAN.from_preset("vit_vqgan_tiny", **model_overrides)
    # The paper's schedule shape: warm-up over 10% of the run, cosine to half the peak.
    model.compile(
        optimizer=keras_vim.training.vit_vqgan_optimizer(
            total_steps=args.steps,
            warmup_steps=max(1, args.steps // 10),
            peak_learning_rate=learning_rate,
            final_learning_rate=learning_rate / 2,
        ),
        perceptual_weight=0.0,
        adversarial_weight=0.0,
        **compile_overrides,
    )
    callback = _Probe(images, args.probe_every)
    model.fit(
        train_data,
        steps_per_epoch=args.probe_every,
        epochs=args.steps // args.probe_every,
        verbose=2 if args.verbose else 0,
        callbacks=[callback],
    )
    return {"name": name, "learning_rate": learning_rate, "curve": callback.records}


def save_chart(results, path):
    """One line plot per measure (a PNG each, then tiled into `path`)."""
    from PIL import Image

    tiles = []
    for measure in MEASURES:
        tile = f"{path[:-4]}_{measure}.png"
        steps = [r["step"] for r in results[0]["curve"]]
        series = {r["name"]: [p[measure] for p in r["curve"]] for r in results}
        keras_vim.utils.save_line_plot(tile, steps, series, title=measure, x_label="step")
        tiles.append(Image.open(tile))
    width, height = tiles[0].size
    sheet = Image.new("RGB", (3 * width, 2 * height), "white")
    for i, tile in enumerate(tiles):
        sheet.paste(tile, ((i % 3) * width, (i // 3) * height))
        os.remove(tile.filename)
    sheet.save(path)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_study_arguments(parser, default_steps=220)
    parser.add_argument("--probe-every", type=int, default=20, help="Steps between probes.")
    parser.add_argument(
        "--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS), help="Which to run."
    )
    args = parser.parse_args(argv)
    if args.steps < args.probe_every or args.probe_every < 1:
        parser.error("--probe-every must be >= 1 and at most --steps")
    json_path = os.path.join(args.output, "codebook_curves.json")
    png_path = os.path.join(args.output, "codebook_curves.png")
    if args.replot:
        import json

        with open(json_path) as f:
            print(f"wrote {save_chart(json.load(f)['results'], png_path)}")
        return
    os.makedirs(args.output, exist_ok=True)
    images = test_images(256)
    record = {
        "backend": keras.backend.backend(),
        "steps": args.steps,
        "batch_size": args.batch_size,
        "probe_images": len(images),
        "results": [],
    }
    for name in args.configs:
        result = run_config(name, args, images)
        last = result["curve"][-1]
        add_result(record, result, json_path, name, {m: round(last[m], 4) for m in MEASURES})
    print(f"wrote {save_chart(record['results'], png_path)}")


if __name__ == "__main__":
    main()
