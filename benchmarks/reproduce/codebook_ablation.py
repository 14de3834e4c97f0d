"""Study (a) of the paper's findings at small scale: the codebook lookup ablation (Table 4).

Trains the `vit_vqgan_tiny` architecture on Fashion-MNIST (32x32) five times: code lookup dim
256, 64, 32 and 8 with l2-normalized codes, and dim 32 without. Everything else is the same:
the paper's setting without the repo's extra usage remedies (`patch_norm=False`,
`restart_dead_codes=False`, the codebook N(0, 1)), the same steps, batches and seed, L2 +
logit-Laplace + VQ loss only (no perceptual term, no GAN), the paper's optimizer (AdamW, peak
1e-4, warm-up over 10% of the run, cosine to half the peak). Each trained model is measured on
the test split with `keras_vim.metrics.evaluate_tokenizer`: the paper's codebook usage (share
of the codes used by a batch of 256 test images), the usage after merging codes within cosine
0.95, perplexity, dead codes, L2, PSNR, and the reconstruction Fréchet distance on the shipped
Fashion-MNIST classifier's features; every `--probe-every` steps the codebook is probed on 256
test images (usage, distinct usage, perplexity, ... against steps: the curves PNG). As a
reference for the distinct share, spherical k-means with as many codes is fit to the trained
encoder's latents of 512 test images and measured beside the trained codebook
(`latent_kmeans.py`).

    KERAS_BACKEND=jax python -m benchmarks.reproduce.codebook_ablation [--steps 2000]
    # one change to the paper's recipe, e.g. the codebook initialized N(0, 0.01):
    KERAS_BACKEND=jax python -m benchmarks.reproduce.codebook_ablation --codebook-init-scale 0.01

Writes `codebook_ablation.json`, `codebook_ablation.png` and `codebook_ablation_curves.png` to
`--output` (default `benchmarks/reproduce/results/`); a change to the paper's recipe is named
in the files' stem (`codebook_ablation_init0.01.json`, ...).
"""

import argparse
import functools
import os
import sys

import keras
import numpy as np

import keras_vim
from benchmarks.reproduce.latent_kmeans import latent_codebook_reference
from benchmarks.reproduce.training import (
    add_probe_argument,
    add_result,
    add_study_arguments,
    check_probe_argument,
    measure,
    percent,
    replot,
    save_curves_chart,
    test_images,
    train_batches,
    train_tokenizer,
)
from keras_vim.models import VitVQGAN

PRESET = "vit_vqgan_tiny"
# Test images whose latents the k-means reference codebook is fit to (32768 latents).
KMEANS_IMAGES = 512
# Paper Table 4 (ImageNet, Base-Base encoder/decoder): codebook usage in percent.
PAPER_USAGE = {"dim256_l2": 4.0, "dim64_l2": 37.0, "dim32_l2": 96.0, "dim8_l2": 96.0}
PAPER_USAGE_NO_L2 = 2.0


def study_configs(code_dims=(256, 64, 32, 8), no_l2_dim=32):
    """The ablation's configurations: each of `code_dims` l2-normalized, then `no_l2_dim` without.

    Returns:
        A list of dicts with `name`, `code_dim` and `l2_normalize_codes`.
    """
    dims = [int(d) for d in code_dims]
    if not dims or any(d < 1 for d in dims):
        raise ValueError(f"`code_dims` must be positive integers, got {code_dims!r}.")
    configs = [{"name": f"dim{d}_l2", "code_dim": d, "l2_normalize_codes": True} for d in dims]
    if no_l2_dim:
        dim = int(no_l2_dim)
        configs.append({"name": f"dim{dim}_no_l2", "code_dim": dim, "l2_normalize_codes": False})
    return configs


# The paper's setting: none of the repo's usage remedies, the paper's N(0, 1) codebook (not
# the preset's 0.01). The flags of `parse_args` change one of these at a time.
PAPER_SETTING = {"patch_norm": False, "restart_dead_codes": False, "codebook_init_scale": 1.0}


def build_tokenizer(config, changes=None):
    """`vit_vqgan_tiny` with the config's lookup in the paper's setting, `changes` applied."""
    return VitVQGAN.from_preset(
        PRESET,
        code_dim=config["code_dim"],
        l2_normalize_codes=config["l2_normalize_codes"],
        **{**PAPER_SETTING, **(changes or {})},
    )


def setting_changes(args):
    """The changes to `PAPER_SETTING` the flags ask for, and the file-name suffix naming them."""
    changes, suffix = {}, ""
    if args.codebook_init_scale != PAPER_SETTING["codebook_init_scale"]:
        changes["codebook_init_scale"] = args.codebook_init_scale
        suffix += f"_init{args.codebook_init_scale:g}"
    if args.restarts:
        # The repo's dead-code restarts, which also seed the codebook from the first batches.
        changes["restart_dead_codes"] = True
        suffix += "_restarts"
    if args.patch_norm:
        changes["patch_norm"] = True
        suffix += "_patchnorm"
    return changes, suffix


def save_chart(results, path):
    """Codebook usage (%) against lookup dim for the l2 runs, the paper's as a second line."""
    runs = sorted((r for r in results if r["l2_normalize_codes"]), key=lambda r: r["code_dim"])
    if not runs:
        return None
    # log2 of the dim on x: 8, 32, 64 and 256 spread evenly instead of bunching at the left.
    dims = [float(np.log2(r["code_dim"])) for r in runs]
    series = {"keras_vim, l2-norm": [100 * r["test"]["codebook_usage"] for r in runs]}
    paper = [PAPER_USAGE.get(r["name"]) for r in runs]
    if all(value is not None for value in paper):
        series["paper Table 4, l2-norm"] = paper
    references = {
        f"keras_vim, dim {r['code_dim']} no l2-norm": 100 * r["test"]["codebook_usage"]
        for r in results
        if not r["l2_normalize_codes"]
    }
    references["paper, dim 32 no l2-norm"] = PAPER_USAGE_NO_L2
    return keras_vim.utils.save_line_plot(
        path,
        dims,
        series,
        title="Codebook usage vs lookup dim (batch of 256 test images)",
        x_label="log2(code lookup dim)",
        y_label="codebook usage (%)",
        reference_lines=references,
    )


def save_curves(results, path):
    """Usage, distinct usage and perplexity of each lookup against the training step."""
    curves = {r["name"]: r["curve"] for r in results if r.get("curve")}
    if not curves:
        return None
    measures = ("codebook_usage", "distinct_code_usage", "perplexity")
    return save_curves_chart(curves, path, measures=measures)


def markdown_table(record):
    """The results as the README's Markdown table (usage in percent next to the paper's)."""
    paper = {**PAPER_USAGE, "dim32_no_l2": PAPER_USAGE_NO_L2}
    lines = [
        "| lookup | usage % (paper) | usage % all test | distinct % all test | dead codes "
        "| perplexity | L2 | PSNR dB | recon. FD |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in record["results"]:
        t = r["test"]
        name = f"dim {r['code_dim']}" + (", l2-norm" if r["l2_normalize_codes"] else ", no l2-norm")
        reference = paper.get(r["name"])
        lines.append(
            f"| {name} | {100 * t['codebook_usage']:.1f} "
            f"({'-' if reference is None else f'{reference:g}'}) "
            f"| {100 * t['codebook_usage_total']:.1f} | {percent(t.get('distinct_code_usage'))} "
            f"| {t['dead_codes']} | {t['perplexity']:.1f} "
            f"| {t['l2']:.4f} | {t['psnr']:.2f} | {t['frechet_distance']:.1f} |"
        )
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_study_arguments(
        parser, default_steps=2000, default_batch_size=8, default_learning_rate=1e-4
    )
    add_probe_argument(parser, default=100)
    parser.add_argument(
        "--code-dims", type=int, nargs="+", default=[256, 64, 32, 8], help="l2-norm lookup dims."
    )
    parser.add_argument(
        "--no-l2-dim", type=int, default=32, help="Lookup dim of the run without l2-norm (0: none)."
    )
    change = parser.add_argument_group("one change to the paper's setting")
    change.add_argument(
        "--codebook-init-scale", type=float, default=1.0, help="Std of the normal codebook init."
    )
    change.add_argument(
        "--restarts", action="store_true", help="Dead-code restarts (seeding the codebook)."
    )
    change.add_argument("--patch-norm", action="store_true", help="The ViT's patch LayerNorm.")
    args = parser.parse_args(argv)
    check_probe_argument(parser, args)
    if args.codebook_init_scale <= 0:
        parser.error("--codebook-init-scale must be > 0.")
    return args


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.output, exist_ok=True)
    changes, suffix = setting_changes(args)
    stem = os.path.join(args.output, f"codebook_ablation{suffix}")
    json_path, png_path, curves_path = f"{stem}.json", f"{stem}.png", f"{stem}_curves.png"
    if args.replot:
        record = replot(json_path, png_path, save_chart, markdown_table)
        save_curves(record["results"], curves_path)
        return record
    configs = study_configs(args.code_dims, args.no_l2_dim)
    # Built before the first `set_random_seed`: with TensorFlow's global seed set, building the
    # seeded repeated pipeline fails in this version of keras_vim.data (shuffling.py).
    train_data = train_batches(args.batch_size, args.seed)
    images = test_images(args.eval_images)
    classifier = keras_vim.metrics.load_domain_classifier()
    command = " ".join(sys.argv[1:]) if argv is None else " ".join(argv)
    record = {
        "study": "codebook lookup ablation (paper Table 4)",
        "command": f"KERAS_BACKEND=jax python -m benchmarks.reproduce.codebook_ablation {command}",
        "backend": keras.backend.backend(),
        "preset": PRESET,
        "overrides": {**PAPER_SETTING, **changes},
        "changes_to_the_paper_setting": changes,
        "losses": "L2 + 0.1 logit-Laplace + VQ (beta 0.25, averaged over the code dims); "
        "no perceptual, no GAN",
        "steps": args.steps,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "final_learning_rate": args.learning_rate / 2,
        "warmup_steps": max(1, args.steps // 10),
        "seed": args.seed,
        "test_images": len(images),
        "probe_every": args.probe_every,
        "paper_usage_percent": {**PAPER_USAGE, "dim32_no_l2": PAPER_USAGE_NO_L2},
        "results": [],
    }
    for config in configs:
        model, seconds, final, curve = train_tokenizer(
            functools.partial(build_tokenizer, config, changes),
            train_data,
            args.steps,
            args.learning_rate,
            args.seed,
            args.verbose,
            probe_images=images[:256],
            probe_every=args.probe_every,
        )
        result = {
            **config,
            "train_seconds": round(seconds, 1),
            "final_train_logs": final,
            "test": measure(model, images, classifier),
            "latent_kmeans": latent_codebook_reference(model, images[:KMEANS_IMAGES]),
            "curve": curve,
        }
        add_result(record, result, json_path, f"{config['name']} ({seconds:.0f} s)", result["test"])
    chart = save_chart(record["results"], png_path)
    save_curves(record["results"], curves_path)
    print(f"wrote {json_path}" + (f", {chart} and {curves_path}" if chart else ""))
    print(markdown_table(record))
    return record


if __name__ == "__main__":
    main()
