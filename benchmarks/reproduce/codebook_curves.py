"""Codebook health from step 0: how the tokenizer's codebook is used while it trains.

Trains `vit_vqgan_tiny` on Fashion-MNIST in a few configurations (see `CONFIGS`) and, every
`--probe-every` steps, encodes 256 fixed test images and records: the paper's usage, the
perplexity, the usage after merging near-duplicate codes (cosine > 0.95), the codes covering
90% of the tokens, the mean pairwise cosine of the encoder's latents, the mean angle the codes
turned since initialization, the mean stored code norm, the norms of the loss gradient
reaching the codebook and the encoder (JAX), L2, and each training loss term averaged since
the last probe.

    KERAS_BACKEND=jax python -m benchmarks.reproduce.codebook_curves [--steps 2000]
    KERAS_BACKEND=jax python -m benchmarks.reproduce.codebook_curves --replot

Writes `codebook_curves.json` and `codebook_curves.png` (one panel per measure) to `--output`.
"""

import argparse
import json
import os

import keras

from benchmarks.reproduce.training import (
    CURVE_MEASURES,
    add_probe_argument,
    add_result,
    add_study_arguments,
    check_probe_argument,
    save_curves_chart,
    test_images,
    train_batches,
    train_tokenizer,
)
from keras_vim.models import VitVQGAN

# name: (model overrides, compile overrides, peak learning rate, final learning rate / peak).
CONFIGS = {
    # The main job's tokenizer: the library's defaults, peak 1e-3 cosine to 1e-4, no
    # logit-Laplace term (recipes/train_vit_vqgan.py's defaults).
    "default": ({}, {"logit_laplace_weight": 0.0}, 1e-3, 0.1),
    # The paper's recipe: no patch norm, no restarts, the VQ loss summed over the code
    # dimensions, the codebook initialized N(0, 1), peak 1e-4 cosine to 5e-5, L2 + 0.1
    # logit-Laplace + VQ.
    "paper": (
        {
            "patch_norm": False,
            "restart_dead_codes": False,
            "vq_loss_reduction": "sum",
            "codebook_init_scale": 1.0,
        },
        {},
        1e-4,
        0.5,
    ),
    # The paper's recipe with the VQ loss averaged over the code dimensions (the library's).
    "paper_mean_vq": (
        {"patch_norm": False, "restart_dead_codes": False, "codebook_init_scale": 1.0},
        {},
        1e-4,
        0.5,
    ),
}


def run_config(name, args, train_data, images):
    """Trains one configuration with probes; returns its record."""
    model_overrides, compile_overrides, learning_rate, final_fraction = CONFIGS[name]
    _, seconds, _, curve = train_tokenizer(
        lambda: VitVQGAN.from_preset("vit_vqgan_tiny", **model_overrides),
        train_data,
        args.steps,
        learning_rate,
        args.seed,
        args.verbose,
        probe_images=images,
        probe_every=args.probe_every,
        final_fraction=final_fraction,
        compile_overrides=compile_overrides,
    )
    return {
        "name": name,
        "model_overrides": model_overrides,
        "compile_overrides": compile_overrides,
        "learning_rate": learning_rate,
        "final_learning_rate": learning_rate * final_fraction,
        "train_seconds": round(seconds, 1),
        "curve": curve,
    }


def save_chart(results, path):
    """One panel per measure of `CURVE_MEASURES`, a line per configuration."""
    return save_curves_chart({r["name"]: r["curve"] for r in results}, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_study_arguments(
        parser, default_steps=2000, default_batch_size=8, default_learning_rate=None
    )
    add_probe_argument(parser, default=100)
    parser.add_argument(
        "--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS), help="Which to run."
    )
    args = parser.parse_args(argv)
    check_probe_argument(parser, args)
    json_path = os.path.join(args.output, "codebook_curves.json")
    png_path = os.path.join(args.output, "codebook_curves.png")
    if args.replot:
        with open(json_path) as f:
            print(f"wrote {save_chart(json.load(f)['results'], png_path)}")
        return
    os.makedirs(args.output, exist_ok=True)
    train_data = train_batches(args.batch_size, args.seed)  # before the first seeding
    images = test_images(256)
    record = {
        "command": "KERAS_BACKEND=jax python -m benchmarks.reproduce.codebook_curves "
        f"--steps {args.steps} --batch-size {args.batch_size} --probe-every {args.probe_every} "
        f"--seed {args.seed} --configs {' '.join(args.configs)}",
        "backend": keras.backend.backend(),
        "steps": args.steps,
        "batch_size": args.batch_size,
        "probe_images": len(images),
        "results": [],
    }
    for name in args.configs:
        result = run_config(name, args, train_data, images)
        last = result["curve"][-1]
        summary = {m: round(last[m], 4) for m in CURVE_MEASURES if m in last}
        add_result(record, result, json_path, f"{name} ({result['train_seconds']:.0f} s)", summary)
    print(f"wrote {save_chart(record['results'], png_path)}")


if __name__ == "__main__":
    main()
