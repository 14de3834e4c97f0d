"""Study (b) of the paper's findings at small scale: ViT against CNN encoder/decoder (Table 4).

Trains `vit_vqgan_tiny` and `cnn_vqgan_tiny` (a VQGAN-style residual CNN with about as many
encoder and decoder parameters) on Fashion-MNIST (32x32, 8x8 tokens) with everything else
equal: the same factorized l2-normalized lookup (`--code-dim`, 32 as in the paper), 512 codes,
the paper's setting without the repo's usage remedies (`patch_norm=False`,
`restart_dead_codes=False`; `--remedies` turns dead-code restarts on for both), the same steps,
batches and seed, L2 + logit-Laplace + VQ loss only, the paper's optimizer settings as in study
(a). Each is measured on the test split as in study (a), and the chart shows how the test
tokens spread over the codebook (codes sorted by use); the curves chart shows usage, distinct
usage and perplexity against steps (probed on 256 test images).

    KERAS_BACKEND=jax python -m benchmarks.reproduce.encoder_ablation [--steps 2000]

Writes `encoder_ablation.json`, `encoder_ablation.png` and `encoder_ablation_curves.png`
(`encoder_ablation_remedies.*` with `--remedies`) to `--output` (default
`benchmarks/reproduce/results/`)
"""

import argparse
import functools
import os

import keras
import numpy as np

import keras_vim
from benchmarks.reproduce.codebook_ablation import save_curves
from benchmarks.reproduce.training import (
    add_probe_argument,
    add_result,
    add_study_arguments,
    check_probe_argument,
    measure,
    percent,
    replot,
    test_images,
    train_batches,
    train_tokenizer,
)
from keras_vim.models import CnnVQGAN, VitVQGAN

# Paper Table 4 (ImageNet, dim-32 l2-normalized lookup): codebook usage in percent.
PAPER_USAGE = {"vit": 96.0, "cnn": 63.0}
ARCHITECTURES = {
    "vit": (VitVQGAN, "vit_vqgan_tiny", {"patch_norm": False}),
    "cnn": (CnnVQGAN, "cnn_vqgan_tiny", {}),
}


def build_tokenizer(architecture, code_dim, remedies=False):
    """The tiny preset of `architecture` ("vit" or "cnn") with the study's shared lookup."""
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"`architecture` must be one of {sorted(ARCHITECTURES)}, got {architecture!r}."
        )
    model_class, preset, overrides = ARCHITECTURES[architecture]
    if remedies:
        overrides = {}  # the preset's own remedies (patch LayerNorm for ViT, restarts)
    return model_class.from_preset(
        preset,
        code_dim=code_dim,
        l2_normalize_codes=True,
        restart_dead_codes=remedies,
        # The paper's codebook (N(0, 1), not seeded) for both, with or without the restarts.
        codebook_init_scale=1.0,
        seed_codebook_from_data=False,
        **overrides,
    )


def count_parameters(layer):
    return int(sum(np.prod(w.shape) for w in layer.trainable_weights))


def code_counts(model, images, batch_size=256):
    """How often each code is used by the test images' tokens."""
    counts = np.zeros(model.num_codes, np.int64)
    for start in range(0, len(images), batch_size):
        ids = keras.ops.convert_to_numpy(model.encode(images[start : start + batch_size]))
        counts += np.bincount(ids.ravel(), minlength=model.num_codes)
    return counts


def save_chart(results, path):
    """Share of the test tokens per code, codes sorted from most to least used, per model."""
    if not results:
        return None
    num_codes = len(results[0]["code_counts"])
    ranks = [r for r in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024) if r <= num_codes]
    series = {}
    for r in results:
        counts = np.sort(np.asarray(r["code_counts"]))[::-1]
        share = 100 * np.cumsum(counts) / max(1, counts.sum())
        series[f"{r['architecture']} ({r['test']['dead_codes']} dead codes)"] = [
            float(share[rank - 1]) for rank in ranks
        ]
    return keras_vim.utils.save_line_plot(
        path,
        [float(np.log2(rank)) for rank in ranks],
        series,
        title="Test tokens covered by the most used codes",
        x_label="log2(number of most used codes)",
        y_label="share of test tokens (%)",
    )


def markdown_table(record):
    """The results as the README's Markdown table."""
    lines = [
        "| encoder/decoder | parameters | usage % (paper) | usage % all test | distinct % all test "
        "| dead codes | perplexity | L2 | PSNR dB | recon. FD |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in record["results"]:
        t = r["test"]
        lines.append(
            f"| {r['architecture']} | {r['parameters'] / 1e6:.2f} M "
            f"| {100 * t['codebook_usage']:.1f} ({PAPER_USAGE[r['architecture']]:g}) "
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
    parser.add_argument("--code-dim", type=int, default=32, help="Lookup dim of both models.")
    parser.add_argument(
        "--remedies", action="store_true", help="Dead-code restarts (and ViT patch norm) on."
    )
    args = parser.parse_args(argv)
    check_probe_argument(parser, args)
    return args


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.output, exist_ok=True)
    stem = "encoder_ablation" + ("_remedies" if args.remedies else "")
    json_path = os.path.join(args.output, f"{stem}.json")
    png_path = os.path.join(args.output, f"{stem}.png")
    curves_path = os.path.join(args.output, f"{stem}_curves.png")
    if args.replot:
        record = replot(json_path, png_path, save_chart, markdown_table)
        save_curves(record["results"], curves_path)
        return record
    train_data = train_batches(args.batch_size, args.seed)
    images = test_images(args.eval_images)
    classifier = keras_vim.metrics.load_domain_classifier()
    record = {
        "study": "ViT vs CNN encoder/decoder (paper Table 4)",
        "command": "KERAS_BACKEND=jax python -m benchmarks.reproduce.encoder_ablation "
        f"--steps {args.steps} --batch-size {args.batch_size} --seed {args.seed} "
        f"--code-dim {args.code_dim}"
        + (" --remedies" if args.remedies else "")
        + (f" --eval-images {args.eval_images}" if args.eval_images else ""),
        "backend": keras.backend.backend(),
        "losses": "L2 + 0.1 logit-Laplace + VQ (beta 0.25, averaged over the code dims); "
        "no perceptual, no GAN",
        "steps": args.steps,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "final_learning_rate": args.learning_rate / 2,
        "warmup_steps": max(1, args.steps // 10),
        "probe_every": args.probe_every,
        "seed": args.seed,
        "code_dim": args.code_dim,
        "remedies": args.remedies,
        "test_images": len(images),
        "paper_usage_percent": PAPER_USAGE,
        "results": [],
    }
    for architecture in ARCHITECTURES:
        model, seconds, final, curve = train_tokenizer(
            functools.partial(build_tokenizer, architecture, args.code_dim, args.remedies),
            train_data,
            args.steps,
            args.learning_rate,
            args.seed,
            args.verbose,
            probe_images=images[:256],
            probe_every=args.probe_every,
        )
        result = {
            "name": architecture,
            "architecture": architecture,
            "preset": ARCHITECTURES[architecture][1],
            "parameters": count_parameters(model.encoder) + count_parameters(model.decoder),
            "train_seconds": round(seconds, 1),
            "final_train_logs": final,
            "test": measure(model, images, classifier),
            "code_counts": code_counts(model, images).tolist(),
            "curve": curve,
        }
        add_result(record, result, json_path, f"{architecture} ({seconds:.0f} s)", result["test"])
    chart = save_chart(record["results"], png_path)
    save_curves(record["results"], curves_path)
    print(f"wrote {json_path}" + (f", {chart} and {curves_path}" if chart else ""))
    print(markdown_table(record))
    return record


if __name__ == "__main__":
    main()
