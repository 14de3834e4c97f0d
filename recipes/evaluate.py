"""Evaluate a tokenizer and a VIM prior: reconstruction, codebook and sample metrics, with and
without classifier-based rejection sampling (paper Table 6), as a JSON report and figures.

Tokenizer (on the test split): L1, L2, PSNR, SSIM, logit-Laplace NLL and codebook statistics
(`keras_vim.metrics.evaluate_tokenizer`), the reconstruction Fréchet distance in the shipped
Fashion-MNIST classifier's features ("domain FD"), and reconstruction FID when the FID Inception
weights are given (`--fid-weights PATH`; keras_vim never downloads them).

Prior: samples of every class (or unconditional samples) at each `--acceptance-rates` value
(1 = no rejection), with their domain FD to the test images, domain Inception Score, class
accuracy (the classifier's top-1 agrees with the requested class) and mean classifier score; FID
and IS with `--fid-weights`. A real-data reference (training images against test images, the
same number as the samples) gives the floor of each number.

It writes into `--output`: `evaluation.json`, `reconstructions.png` (test images above their
reconstructions), `code_usage.png` (the codes' test-set counts, most used first) and
`samples_rate_<r>.png` (one row per class).

    KERAS_BACKEND=jax python recipes/evaluate.py --tokenizer vit_vqgan_tiny_fashion_mnist \\
        --prior vim_tiny_fashion_mnist
    KERAS_BACKEND=jax python recipes/evaluate.py --tokenizer runs/vim/tokenizer/preset \\
        --prior runs/vim/preset --fid-weights pt_inception-2015-12-05-6726825d.pth

The domain metrics need the default data (Fashion-MNIST, 32x32x1); for other data only the
reconstruction metrics and, with `--fid-weights`, FID and IS are computed.

Every flag is checked before any work. `--output` belongs to one evaluation: its files appear
together when all are written; an evaluation with other settings is refused there.
"""

import argparse
import json
import os
import time

import keras
import numpy as np

import keras_vim
from keras_vim.metrics import (
    load_domain_classifier,
    real_data_reference,
    reconstruction_metrics,
    sample_metrics,
)
from keras_vim.models import VIM, VQGANBase
from keras_vim.pipelines import first_images, load_model
from keras_vim.utils import flags


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    flags.add_evaluation_arguments(parser, "; 'none' evaluates the tokenizer only")
    parser.add_argument(
        "--max-images",
        type=flags.NON_NEGATIVE_INT,
        default=0,
        help="Evaluate on the first N test images (0: all).",
    )
    parser.add_argument(
        "--fid-weights",
        default=None,
        help="Path of pt_inception-2015-12-05-6726825d.pth (or a converted .weights.h5): adds "
        "FID and IS with the FID Inception network (slow on a CPU).",
    )
    parser.add_argument("--samples-per-class", type=flags.POSITIVE_INT, default=50)
    parser.add_argument(
        "--num-samples",
        type=flags.POSITIVE_INT,
        default=500,
        help="Samples of an unconditional prior.",
    )
    parser.add_argument(
        "--acceptance-rates",
        type=flags.list_of(flags.PROBABILITY),
        default=[1.0, 0.25],
        help="Comma-separated rejection-sampling acceptance rates, each in (0, 1] (1: no "
        "rejection; default 1,0.25).",
    )
    parser.add_argument(
        "--temperature",
        type=flags.POSITIVE,
        default=0.8,
        help="Paper: 1.0 (recipes/train_vim.py: 0.8).",
    )
    parser.add_argument(
        "--top-k", type=flags.POSITIVE_INT, default=None, help="Top-k sampling, k >= 1."
    )
    parser.add_argument(
        "--top-p", type=flags.PROBABILITY, default=None, help="Nucleus sampling, in (0, 1]."
    )
    parser.add_argument(
        "--guidance-scale",
        type=flags.NON_NEGATIVE,
        default=None,
        help="Classifier-free guidance; needs a prior trained with class dropout (0 disables "
        "it; not in the paper). Default: 2 for such a prior, as in recipes/train_vim.py.",
    )
    parser.add_argument(
        "--batch-size", type=flags.POSITIVE_INT, default=100, help="Samples per generate call."
    )
    parser.add_argument("--seed", type=flags.NON_NEGATIVE_INT, default=0)
    flags.add_output_argument(parser, "runs/evaluate", what="evaluation")
    args = parser.parse_args(argv)
    check_args(parser, args)
    return args


def check_args(parser, args):
    """The checks that look at several flags or at files (`parser.error` if one fails)."""
    flags.check_data(parser, args, labels=True)
    flags.model_config(parser, "--tokenizer", VQGANBase, args.tokenizer)
    if args.prior != "none":
        config = flags.model_config(parser, "--prior", VIM, args.prior)
        if config is not None:
            conditional = config.get("num_classes") is not None
            class_dropout = config.get("class_dropout", 0.0)
            flags.check_guidance_scale(parser, args.guidance_scale, conditional, class_dropout)
    flags.check_file(parser, "--fid-weights", args.fid_weights)


def rounded(report):
    return {
        k: (round(v, 6) if isinstance(v, float) else v)
        for k, v in report.items()
        if not isinstance(v, np.ndarray)
    }


def evaluate_tokenizer_section(args, tokenizer, images, classifier, directory):
    start = time.time()
    inception = keras_vim.metrics.load_fid_inception(args.fid_weights) if args.fid_weights else None
    report = reconstruction_metrics(tokenizer, images, classifier, inception)
    report["seconds"] = round(time.time() - start, 1)

    # Code-usage histogram over the evaluated images, most used code first.
    ids, _ = keras_vim.data.tokenize_dataset(tokenizer, images, verbose=False)
    counts = np.bincount(ids.reshape(-1), minlength=tokenizer.num_codes)
    report["code_counts_sorted"] = np.sort(counts)[::-1].tolist()
    keras_vim.utils.save_bar_chart(
        os.path.join(directory, "code_usage.png"),
        np.sort(counts)[::-1],
        title=f"Code use over {len(images)} test images ({int((counts > 0).sum())} of "
        f"{tokenizer.num_codes} codes used)",
        x_label="code, most used first",
        y_label="tokens",
    )
    shown = images[:16]
    reconstructions = keras.ops.convert_to_numpy(tokenizer.decode(tokenizer.encode(shown)))
    keras_vim.utils.save_image_grid(
        np.concatenate([shown, reconstructions]),
        os.path.join(directory, "reconstructions.png"),
        columns=len(shown),
        scale=3,
    )
    return rounded(report)


def evaluate_prior_section(args, prior, tokenizer, test_images, classifier, class_names, directory):
    conditional = prior.num_classes is not None
    if conditional:
        class_ids = np.repeat(np.arange(prior.num_classes, dtype="int32"), args.samples_per_class)
    else:
        class_ids = None
    sampling = {
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "guidance_scale": flags.guidance_scale(args.guidance_scale, prior),
    }
    inception, test_pool = None, None
    if args.fid_weights:
        inception = keras_vim.metrics.load_fid_inception(args.fid_weights)
        # The test images' Inception features, once for every acceptance rate.
        test_pool = keras_vim.metrics.inception_outputs(inception, test_images)["pool"]
    rates = args.acceptance_rates
    if classifier is None and rates != [1.0]:
        print("NOTE: rejection sampling needs the domain classifier: rate 1 only.", flush=True)
        rates = [1.0]
    results = {}
    for rate in rates:
        start = time.time()
        if classifier is not None:
            result = keras_vim.sampling.rejection_sample(
                prior,
                tokenizer,
                classifier,
                rate,
                num_samples=None if conditional else args.num_samples,
                class_ids=class_ids,
                batch_size=args.batch_size,
                seed=args.seed,
                **sampling,
            )
        else:
            images = prior.generate_images(
                tokenizer,
                num_samples=None if conditional else args.num_samples,
                class_ids=class_ids,
                seed=args.seed,
                **sampling,
            )
            result = {"images": keras.ops.convert_to_numpy(images), "acceptance_rate": 1.0}
        sample_seconds = time.time() - start
        images = result["images"]
        entry = {
            "requested_acceptance_rate": rate,
            "acceptance_rate": result["acceptance_rate"],
            "samples": len(images),
            "candidates": result.get("num_candidates", len(images)),
            "sample_seconds": round(sample_seconds, 1),
            **sample_metrics(images, test_images, class_ids, classifier, inception, test_pool),
        }
        if "scores" in result:
            entry["mean_classifier_score"] = float(np.mean(result["scores"]))
            entry["mean_candidate_score"] = float(np.mean(result["candidate_scores"]))
        results[f"{rate:g}"] = rounded(entry)
        if conditional:  # one row per class, at most 10 samples each
            per_row = min(args.samples_per_class, 10)
            shown = images.reshape(prior.num_classes, args.samples_per_class, *images.shape[1:])
            shown = shown[:, :per_row].reshape(-1, *images.shape[1:])
        else:
            per_row, shown = 10, images[:100]
        keras_vim.utils.save_image_grid(
            shown, os.path.join(directory, f"samples_rate_{rate:g}.png"), per_row, scale=3
        )
        print(f"acceptance rate {rate:g}: {json.dumps(results[f'{rate:g}'])}", flush=True)
    return {
        "source": args.prior,
        "sampling": sampling,
        "samples_per_class": args.samples_per_class if conditional else None,
        "sample_rows": list(class_names) if conditional and class_names else None,
        "rates": results,
    }


def main(argv=None):
    args = parse_args(argv)
    run = flags.run_directory(args)  # new, or an earlier run of these settings
    finished = run.finished_results("evaluation.json")
    if finished is not None:
        return finished
    run.start()
    # Every file is written into `staging` and moved into --output once all are there.
    with run.publishing() as staging:
        report = evaluate(args, staging)
    print(f"done in {report['seconds']:.0f}s; wrote {args.output}/evaluation.json", flush=True)
    return report


def evaluate(args, directory):
    """Runs the evaluation, writing its figures and `evaluation.json` into `directory`."""
    keras.utils.set_random_seed(args.seed)
    start = time.time()
    tokenizer = load_model(VQGANBase, args.tokenizer)
    prior = None if args.prior == "none" else load_model(VIM, args.prior)
    test_images, test_labels, info = first_images(
        args.data, "test", args.max_images, args.image_size, labels=True
    )
    domain = args.data == "fashion_mnist"
    classifier = load_domain_classifier() if domain else None
    print(f"== tokenizer {args.tokenizer} on {len(test_images)} test images", flush=True)
    report = {
        "backend": keras.backend.backend(),
        "data": args.data,
        "test_images": len(test_images),
        "tokenizer": {"source": args.tokenizer},
    }
    report["tokenizer"].update(
        evaluate_tokenizer_section(args, tokenizer, test_images, classifier, directory)
    )
    print(
        json.dumps({k: v for k, v in report["tokenizer"].items() if k != "code_counts_sorted"}),
        flush=True,
    )
    if prior is not None:
        count = (
            prior.num_classes * args.samples_per_class if prior.num_classes else args.num_samples
        )
        if classifier is not None:
            # The same statistics for real data: training images against the test images.
            train_images, _, _ = first_images(
                args.data, "train", count, args.image_size, labels=True
            )
            report["reference"] = real_data_reference(
                train_images, test_images, test_labels, classifier
            )
        print(f"== prior {args.prior}: {count} samples per acceptance rate", flush=True)
        report["prior"] = evaluate_prior_section(
            args, prior, tokenizer, test_images, classifier, info["class_names"], directory
        )
    report["seconds"] = round(time.time() - start, 1)
    with open(os.path.join(directory, "evaluation.json"), "w") as f:
        json.dump(report, f, indent=2)
    return report


if __name__ == "__main__":
    main()
