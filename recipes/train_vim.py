"""Train the VIM prior (stage 2) on tokens of a ViT-VQGAN: the project's main job.

With no arguments, on the default data (Fashion-MNIST, 32x32): trains the tiny tokenizer with
`recipes/train_vit_vqgan.py` (shortened), tokenizes the data once (cached), trains the
class-conditional `vim_tiny` prior and samples from it. It writes into `runs/vim/`:

    tokenizer/        the tokenizer run (its preset/, reconstructions.png, metrics.json)
    tokens_*.npz      the cached token ids of the train and test splits
    model.keras       the prior (and preset/, a preset directory)
    samples.png       generated images, one row per class (class ids in order)
    history.csv       training curves;  metrics.json: settings, timings, final numbers

Choose the backend with KERAS_BACKEND (jax, torch or tensorflow). Every flag is checked before
any work. `--output` belongs to one run: the same command resumes an interrupted run (reusing its
finished tokenizer and token cache) or, once finished, reuses its results; other settings are
refused there.

    KERAS_BACKEND=jax python recipes/train_vim.py
    KERAS_BACKEND=jax python recipes/train_vim.py --tokenizer runs/vit_vqgan/preset --steps 3000
    KERAS_BACKEND=jax python recipes/train_vim.py --data tfds:celeb_a_hq/256 --image-size 256 \
        --tokenizer path/to/tokenizer_preset --preset vim_base --steps 450000 --batch-size 1024
"""

import argparse
import json
import os
import sys
import time

import keras
import numpy as np

import keras_vim
from keras_vim.models import VIM, VitVQGAN, VQGANBase
from keras_vim.training.resumable_fit import completed_epochs, fit_resumable
from keras_vim.training.vim_schedules import vim_optimizer
from keras_vim.utils import flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_vit_vqgan  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    data = parser.add_argument_group("data")
    data.add_argument(
        "--data",
        default="fashion_mnist",
        help="'fashion_mnist' (default), an image folder (one subfolder per class), or "
        "'tfds:NAME'.",
    )
    data.add_argument(
        "--image-size", type=flags.POSITIVE_INT, default=None, help="Square size (folder/TFDS)."
    )
    data.add_argument(
        "--channels",
        type=int,
        choices=(1, 3),
        default=None,
        help="Channels of folder images (default 3).",
    )
    data.add_argument(
        "--unconditional", action="store_true", help="Ignore the labels: an unconditional prior."
    )
    data.add_argument(
        "--max-train-images",
        type=flags.NON_NEGATIVE_INT,
        default=12000,
        help="Tokenize and train on the first N training images (default 12000: tokenizing "
        "all 60000 Fashion-MNIST images would take minutes on a small CPU); 0 for all.",
    )
    tokenizer = parser.add_argument_group("tokenizer")
    tokenizer.add_argument(
        "--tokenizer",
        default=None,
        help="A trained tokenizer: a preset directory or a .keras file (a built-in preset name "
        "gives random weights). Default: train one with recipes/train_vit_vqgan.py.",
    )
    tokenizer.add_argument(
        "--tokenizer-preset", default="vit_vqgan_tiny", help="Preset of the tokenizer to train."
    )
    tokenizer.add_argument(
        "--tokenizer-steps",
        type=flags.POSITIVE_INT,
        default=220,
        help="Steps of the tokenizer run. It trains without the adversarial phase unless "
        "--tokenizer-gan-start is below this: a few hundred steps are too few for it to help.",
    )
    tokenizer.add_argument("--tokenizer-gan-start", type=flags.NON_NEGATIVE_INT, default=None)
    tokenizer.add_argument("--tokenizer-batch-size", type=flags.POSITIVE_INT, default=64)
    model = parser.add_argument_group("prior")
    model.add_argument(
        "--preset",
        default="vim_tiny",
        help=f"VIM preset or preset directory; built-ins: {', '.join(VIM.presets())}. The "
        "vocabulary, grid and classes always follow the tokenizer and the data.",
    )
    model.add_argument("--num-layers", type=flags.POSITIVE_INT, default=None)
    model.add_argument(
        "--num-heads", type=flags.POSITIVE_INT, default=None, help="Divides --hidden-dim."
    )
    model.add_argument("--hidden-dim", type=flags.POSITIVE_INT, default=None)
    model.add_argument("--mlp-dim", type=flags.POSITIVE_INT, default=None)
    model.add_argument("--dropout", type=flags.DROPOUT, default=None, help="In [0, 1).")
    model.add_argument(
        "--class-dropout",
        type=flags.DROPOUT,
        default=None,
        help="Share of examples trained with the null class, in [0, 1) (enables --guidance-scale).",
    )
    train = parser.add_argument_group("training")
    train.add_argument(
        "--steps", type=flags.POSITIVE_INT, default=600, help="Training steps of the prior."
    )
    train.add_argument("--batch-size", type=flags.POSITIVE_INT, default=64)
    train.add_argument(
        "--learning-rate", type=flags.POSITIVE, default=1e-3, help="Peak learning rate."
    )
    train.add_argument(
        "--final-learning-rate",
        type=flags.NON_NEGATIVE,
        default=None,
        help="Learning rate at the last step (default: peak / 10).",
    )
    train.add_argument(
        "--warmup-steps",
        type=flags.NON_NEGATIVE_INT,
        default=None,
        help="Warm-up steps (default: 5%% of --steps).",
    )
    train.add_argument(
        "--steps-per-epoch",
        type=flags.POSITIVE_INT,
        default=None,
        help="Steps between progress lines and validation, at most --steps (default: --steps / 6).",
    )
    train.add_argument(
        "--validation-images",
        type=flags.POSITIVE_INT,
        default=500,
        help="Test images for validation (the first N).",
    )
    train.add_argument("--mixed-precision", action="store_true", help="mixed_bfloat16.")
    train.add_argument("--seed", type=flags.NON_NEGATIVE_INT, default=0)
    sample = parser.add_argument_group("sampling")
    sample.add_argument("--samples-per-class", type=flags.POSITIVE_INT, default=10)
    sample.add_argument(
        "--num-samples",
        type=flags.POSITIVE_INT,
        default=64,
        help="Samples of an unconditional prior.",
    )
    sample.add_argument(
        "--temperature",
        type=flags.POSITIVE,
        default=0.8,
        help="Paper: 1.0. Default 0.8: the tiny, briefly trained prior gives cleaner samples.",
    )
    sample.add_argument(
        "--top-k",
        type=flags.POSITIVE_INT,
        default=None,
        help="Top-k sampling, k >= 1; a k above the vocabulary keeps every code (default and "
        "paper: none).",
    )
    sample.add_argument(
        "--top-p", type=flags.PROBABILITY, default=None, help="Nucleus sampling, in (0, 1]."
    )
    sample.add_argument(
        "--guidance-scale",
        type=flags.NON_NEGATIVE,
        default=None,
        help="Classifier-free guidance; needs a class-conditional prior trained with class "
        "dropout (not in the paper; 0 disables it). Default: 2 for such a prior (an "
        "undertrained tiny prior draws much more recognisable classes with it), else none.",
    )
    parser.add_argument(
        "--output",
        default="runs/vim",
        help="Output directory: new, empty, or an earlier run of the same command.",
    )
    keras_vim.distribution.add_distribution_arguments(parser)
    args = parser.parse_args(argv)
    check_args(parser, args)
    return args


def check_args(parser, args):
    """The checks that look at several flags or at files (`parser.error` if one fails)."""
    flags.check_data(parser, args, labels=not args.unconditional)
    image_size = args.image_size or 32  # the data's default size
    if args.tokenizer:
        config = flags.model_config(parser, "--tokenizer", VQGANBase, args.tokenizer) or {}
        height, width = np.broadcast_to(config.get("image_size", image_size), 2)
        if (height, width) != (image_size, image_size):
            parser.error(
                f"argument --tokenizer: it takes {height}x{width} images, the data is "
                f"{image_size}x{image_size} (--image-size)"
            )
    else:
        config = flags.preset_config(parser, "--tokenizer-preset", VitVQGAN, args.tokenizer_preset)
        flags.check_image_size(parser, "--image-size", config, image_size)

    config = flags.preset_config(parser, "--preset", VIM, args.preset) or {}
    heads = args.num_heads or config.get("num_heads")
    width = args.hidden_dim or config.get("hidden_dim")
    if heads and width and width % heads:
        parser.error(
            f"argument --num-heads: expected a divisor of the hidden dim {width} (--hidden-dim "
            f"or the preset's), got {heads}"
        )
    if args.unconditional and args.class_dropout:
        parser.error("argument --class-dropout: an --unconditional prior has no classes")
    class_dropout = args.class_dropout
    if class_dropout is None and config:  # unknown for a hub handle
        class_dropout = config.get("class_dropout", 0.0)
    conditional = not args.unconditional and not args.data.startswith("tfds:")
    flags.check_guidance_scale(parser, args.guidance_scale, conditional, class_dropout)

    flags.check_at_most(parser, "--warmup-steps", args.warmup_steps, "--steps", args.steps)
    flags.check_at_most(parser, "--steps-per-epoch", args.steps_per_epoch, "--steps", args.steps)
    if not args.tokenizer:  # stage 1's flags: checked now, not after the prior's data loads
        train_vit_vqgan.parse_args(stage1_argv(args))


def stage1_argv(args):
    """The flags of `recipes/train_vit_vqgan.py` for the tokenizer this run trains."""
    argv = [
        "--data",
        args.data,
        "--preset",
        args.tokenizer_preset,
        "--steps",
        str(args.tokenizer_steps),
        "--batch-size",
        str(args.tokenizer_batch_size),
        "--perceptual-weight",
        "0",
        "--discriminator-start",
        str(args.tokenizer_steps if args.tokenizer_gan_start is None else args.tokenizer_gan_start),
        "--eval-images",
        "256",
        "--seed",
        str(args.seed),
        "--output",
        os.path.join(args.output, "tokenizer"),
    ]
    if args.image_size:
        argv += ["--image-size", str(args.image_size)]
    if args.channels:
        argv += ["--channels", str(args.channels)]
    return argv + keras_vim.distribution.distribution_argv(args)  # on the same devices


def load_tokenizer(args):
    """The tokenizer from --tokenizer, or a freshly trained one; and its description."""
    if args.tokenizer:
        path = args.tokenizer
        if path.endswith(".keras"):
            tokenizer = keras.saving.load_model(path)
        else:
            tokenizer = VQGANBase.from_preset(path)  # a ViT-VQGAN or a CNN VQGAN
            if path in VQGANBase.presets():
                print(
                    f"NOTE: built-in preset {path!r} has random weights; its tokens carry no "
                    "image content. Pass a trained tokenizer for meaningful samples.",
                    flush=True,
                )
        return tokenizer, {"source": path}
    # A restarted run finds its finished stage 1 there and reuses it: train_vit_vqgan.py
    # reuses only a run of the same settings and refuses another.
    directory = os.path.join(args.output, "tokenizer")
    argv = stage1_argv(args)
    print(f"== stage 1: the tokenizer: train_vit_vqgan.py {' '.join(argv)}", flush=True)
    start = time.time()
    report = train_vit_vqgan.main(argv)
    tokenizer = VitVQGAN.from_preset(os.path.join(directory, "preset"))
    return tokenizer, {
        "source": directory,
        "steps": report["steps"],
        "seconds": round(time.time() - start, 1),
        "test": report["test"],
    }


def tokenize(args, tokenizer, split, limit=None):
    image_size = (args.image_size, args.image_size) if args.image_size else None
    dataset, info = keras_vim.data.load_dataset(
        args.data,
        split,
        image_size=image_size,
        batch_size=256,
        labels=not args.unconditional,
        channels=args.channels or 3,
        shuffle=False,
    )
    if limit:
        dataset = dataset.unbatch().take(limit).batch(256)
    key = f"{args.data}/{split}/{image_size}/{limit}/{'u' if args.unconditional else 'c'}"
    ids, labels = keras_vim.data.tokenize_dataset(
        tokenizer, dataset, os.path.join(args.output, f"tokens_{split}.npz"), key=key
    )
    return ids, labels, info


def build_prior(args, tokenizer, num_classes):
    overrides = {
        "vocabulary_size": tokenizer.num_codes,
        "grid_size": tuple(tokenizer.grid_size),
        "num_classes": num_classes,
        "seed": args.seed,
    }
    for name in ("num_layers", "num_heads", "hidden_dim", "mlp_dim", "dropout", "class_dropout"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    if num_classes is None:
        overrides["class_dropout"] = 0.0
    return VIM.from_preset(args.preset, load_weights=False, **overrides)


def main(argv=None):
    args = parse_args(argv)
    run = flags.run_directory(args)  # new, or an earlier run of these settings
    if not args.tokenizer:  # and stage 1's directory, --output/tokenizer
        flags.run_directory(train_vit_vqgan.parse_args(stage1_argv(args)))
    finished = run.finished_results("metrics.json")
    if finished is not None:
        return finished
    total_start = time.time()
    run.start()
    keras.utils.set_random_seed(args.seed)

    tokenizer, tokenizer_info = load_tokenizer(args)
    print(f"== tokenizing {args.data} with a {tokenizer.grid_size} grid", flush=True)
    train_ids, train_labels, info = tokenize(
        args, tokenizer, "train", args.max_train_images or None
    )
    test_ids, test_labels, _ = tokenize(args, tokenizer, "test", args.validation_images)
    conditional = train_labels is not None and info["class_names"] is not None
    if not conditional:
        train_labels = test_labels = None
    num_classes = len(info["class_names"]) if conditional else None

    keras.utils.set_random_seed(args.seed)
    if args.mixed_precision:
        keras.config.set_dtype_policy("mixed_bfloat16")
    # --distribution: the prior built, compiled and fitted below runs on all devices.
    setup = keras_vim.distribution.configure_from_args(args, VIM, batch_size=args.batch_size)
    if setup.kind != "none":
        print(f"distribution: {setup}", flush=True)
    model = build_prior(args, tokenizer, num_classes)
    warmup = args.warmup_steps if args.warmup_steps is not None else args.steps // 20
    final_lr = (
        args.learning_rate / 10 if args.final_learning_rate is None else args.final_learning_rate
    )
    model.compile(
        optimizer=vim_optimizer(
            total_steps=args.steps,
            warmup_steps=warmup,
            peak_learning_rate=args.learning_rate,
            final_learning_rate=final_lr,
            decay_start=warmup,
        )
    )
    print(
        f"== stage 2: training VIM ({model.count_params():,} parameters, "
        f"{model.num_layers} blocks of width {model.hidden_dim}, "
        f"{'class-conditional' if conditional else 'unconditional'}) on {len(train_ids)} token "
        f"grids for {args.steps} steps of {args.batch_size}",
        flush=True,
    )
    train_data = keras_vim.data.token_dataset(
        train_ids,
        train_labels,
        batch_size=args.batch_size,
        seed=args.seed,
        repeat=True,
        drop_remainder=True,
    )
    validation_data = keras_vim.data.token_dataset(
        test_ids,
        test_labels,
        batch_size=max(setup.largest_batch_size(min(250, len(test_ids))), setup.num_replicas),
        shuffle=False,
        drop_remainder=setup.num_replicas > 1,  # every batch must split over the replicas
    )
    steps_per_epoch = args.steps_per_epoch or max(1, args.steps // 6)
    epochs = max(1, args.steps // steps_per_epoch)
    start = time.time()
    # Checkpoints every epoch: the same command resumes a killed run where it stopped.
    backup_dir = os.path.join(args.output, "checkpoint")
    resumed = completed_epochs(backup_dir) > 0
    history = fit_resumable(
        model,
        train_data,
        steps_per_epoch=steps_per_epoch,
        epochs=epochs,
        backup_dir=backup_dir,
        run_settings=run.settings,
        validation_data=validation_data,
        shuffle=False,  # the tf.data pipeline shuffles
        verbose=2,
        callbacks=[
            keras.callbacks.CSVLogger(os.path.join(args.output, "history.csv"), append=resumed)
        ],
    )
    train_seconds = time.time() - start

    sampling = {
        "temperature": args.temperature,
        # top-k above the vocabulary keeps everything: clamp (VIM.generate refuses it).
        "top_k": None if args.top_k is None else min(args.top_k, model.vocabulary_size),
        "top_p": args.top_p,
        "guidance_scale": flags.guidance_scale(args.guidance_scale, model, conditional),
        "seed": args.seed,
    }
    if conditional:
        class_ids = np.repeat(np.arange(num_classes, dtype="int32"), args.samples_per_class)
        columns = args.samples_per_class
        rows = list(info["class_names"])
    else:
        class_ids, columns, rows = None, 8, None
    start = time.time()
    images = model.generate_images(
        tokenizer,
        num_samples=None if conditional else args.num_samples,
        class_ids=class_ids,
        **sampling,
    )
    images = keras.ops.convert_to_numpy(images)
    sample_seconds = time.time() - start
    print(
        f"sampled {len(images)} images in {sample_seconds:.1f}s"
        + (f"; rows: {', '.join(rows)}" if rows else ""),
        flush=True,
    )

    steps = epochs * steps_per_epoch
    logs = {k: round(float(v[-1]), 4) for k, v in history.history.items() if v}
    metrics = {
        "backend": keras.backend.backend(),
        "data": info["name"],
        "tokenizer": tokenizer_info,
        "prior": {
            "preset": args.preset,
            "parameters": int(model.count_params()),
            "config": {
                k: model.get_config()[k]
                for k in (
                    "vocabulary_size",
                    "grid_size",
                    "num_layers",
                    "num_heads",
                    "hidden_dim",
                    "mlp_dim",
                    "num_classes",
                    "dropout",
                    "class_dropout",
                )
            },
        },
        "train_images": len(train_ids),
        "steps": steps,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "train_seconds": round(train_seconds, 1),
        "tokens_per_second": round(steps * args.batch_size * model.sequence_length / train_seconds),
        "final_logs": logs,
        "sampling": sampling,
        "sample_rows": rows,
        "sample_seconds": round(sample_seconds, 1),
        "total_seconds": round(time.time() - total_start, 1),
    }
    # Into place together once all are written: never beside an earlier attempt's.
    with run.publishing() as staging:
        model.save(os.path.join(staging, "model.keras"))
        model.save_to_preset(os.path.join(staging, "preset"))
        keras_vim.utils.save_image_grid(
            images, os.path.join(staging, "samples.png"), columns=columns, scale=3
        )
        with open(os.path.join(staging, "metrics.json"), "w") as f:
            json.dump(metrics, f, indent=2)
    print(
        f"done in {metrics['total_seconds']:.0f}s: val bits/token "
        f"{logs.get('val_bits_per_token')}, val accuracy {logs.get('val_accuracy')}; wrote "
        f"{args.output}/: samples.png, model.keras, preset/, history.csv, metrics.json",
        flush=True,
    )
    return metrics


if __name__ == "__main__":
    main()
