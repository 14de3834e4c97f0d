"""Train the VIM prior (stage 2) on tokens of a ViT-VQGAN: the project's main job.

With no arguments, on the default data (Fashion-MNIST, 32x32): trains the tiny tokenizer with
the stage-1 run of `recipes/train_vit_vqgan.py` (`keras_vim.pipelines.train_tokenizer`,
shortened), tokenizes the data once (cached), trains the class-conditional `vim_tiny` prior,
samples from it and scores its samples. It writes into `runs/vim/`:

    tokenizer/        the tokenizer run (its preset/, reconstructions.png, metrics.json)
    tokens_*.npz      the cached token ids of the train and test splits
    model.keras       the prior (and preset/, a preset directory)
    samples.png       generated images, one row per class (class ids in order)
    history.csv       training curves;  metrics.json: settings, timings, final numbers

The evaluation (`--eval-samples N`, default 1000 on the default data, else 0 = none): after the
grid, N more samples (N // classes of each class, in class order, with the same sampling
settings) are scored against every test image of the data source with the shipped
Fashion-MNIST classifier (`keras_vim.metrics.sample_metrics`): domain FD, domain IS and the
class accuracy; beside them the tokenizer's reconstruction metrics on those test images (MSE,
PSNR, codebook usage, reconstruction domain FD) and the real-data reference (as many training
images as samples against the test images: `keras_vim.metrics.real_data_reference`). They are
in metrics.json under "evaluation"; the last line printed shows the samples' domain FD and
class accuracy beside the reference's. The domain metrics need 32x32x1 Fashion-MNIST; for other
data only the reconstruction metrics (and the sampling time) are recorded.

Progress: a "== ..." header line for each stage (stage 1, tokenizing, stage 2, sampling,
evaluating), and a time estimate after the first epochs of each training stage.

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
import time

import keras
import numpy as np

import keras_vim
from keras_vim.models import VIM, VitVQGAN, VQGANBase
from keras_vim.pipelines import (
    TokenizerTraining,
    first_images,
    load_model,
    split_dataset,
    train_tokenizer,
)
from keras_vim.training.resumable_fit import fit_resumable, run_checkpoint_and_logs
from keras_vim.training.vim_schedules import vim_optimizer
from keras_vim.utils import flags
from keras_vim.utils.batches import call_padded


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
        default=1760,
        help="Steps of the tokenizer run. It trains without the adversarial phase unless "
        "--tokenizer-gan-start is below this: a few hundred steps are too few for it to help.",
    )
    tokenizer.add_argument("--tokenizer-gan-start", type=flags.NON_NEGATIVE_INT, default=None)
    tokenizer.add_argument(
        "--tokenizer-batch-size",
        type=flags.POSITIVE_INT,
        default=8,
        help="Default 8: at the same images seen (and the same time on a CPU), more, smaller "
        "steps train the tokenizer better: 1760 steps of 8 gave test MSE 0.0083-0.0084 and "
        "domain FD 22-23 where 440 steps of 32 gave 0.011-0.012 and 29-37 (README).",
    )
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
        "--steps",
        type=flags.POSITIVE_INT,
        default=1340,
        help="Training steps of the prior. Default 1340: ~4 minutes of `vim_tiny` on a 2-core "
        "CPU (README).",
    )
    train.add_argument(
        "--batch-size",
        type=flags.POSITIVE_INT,
        default=32,
        help="Default 32: with the earlier 4x128 prior, 800 steps of 32 gave sample domain FD "
        "22.9 and class accuracy 0.88 where 600 of 64 (more time) gave 24.1 and 0.84 (README).",
    )
    train.add_argument(
        "--learning-rate",
        type=flags.POSITIVE,
        default=8e-3,
        help="Peak learning rate. Default 8e-3: the tiny prior's short run learns more at it "
        "than at 3e-3 or 5e-3 (held-out loss and samples; README).",
    )
    train.add_argument(
        "--final-learning-rate",
        type=flags.NON_NEGATIVE,
        default=None,
        help="Learning rate at the last step (default: peak / 10).",
    )
    train.add_argument(
        "--ema-momentum",
        type=flags.DROPOUT,
        default=None,
        help="Keep an exponential moving average of the prior's weights with this momentum, "
        "in [0, 1), and sample from it (not in the paper; default: none, the last weights). "
        "On the default run 0.99 lowered the held-out loss but drew classes less faithfully "
        "at the paper's sampling (README).",
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
    sample.add_argument(
        "--eval-samples",
        type=flags.NON_NEGATIVE_INT,
        default=None,
        help="Samples scored after training (N // classes of each class for a "
        "class-conditional prior) against the test split, with the tokenizer's reconstruction "
        "metrics and a real-data reference, in metrics.json's 'evaluation'. Default: 1000 for "
        "--data fashion_mnist, else 0 (no evaluation).",
    )
    flags.add_output_argument(parser, "runs/vim")
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
    if args.eval_samples is None:
        args.eval_samples = DEFAULT_EVAL_SAMPLES if args.data == "fashion_mnist" else 0
    classes = known_classes(args) if conditional else None
    if classes and 0 < args.eval_samples < classes:
        parser.error(
            f"argument --eval-samples: expected 0 or at least one sample per class ({classes} "
            f"classes), got {args.eval_samples}"
        )
    if not args.tokenizer:  # stage 1's settings: checked now, not after the prior's data loads
        try:
            stage1_settings(args)
        except (TypeError, ValueError) as error:
            parser.error(f"the tokenizer's run (stage 1): {error}")


DEFAULT_EVAL_SAMPLES = 1000


def known_classes(args):
    """The number of classes of the data, where the flags tell it (else None)."""
    if args.data == "fashion_mnist":
        return len(keras_vim.data.CLASS_NAMES)
    if os.path.isdir(args.data):  # one non-hidden subfolder per class (find_image_files)
        return sum(e.is_dir() and not e.name.startswith(".") for e in os.scandir(args.data))
    return None


def tokenizer_gan_start(args):
    """The step the tokenizer's GAN losses start at: by default its last, i.e. never."""
    return args.tokenizer_steps if args.tokenizer_gan_start is None else args.tokenizer_gan_start


def stage1_settings(args):
    """The settings of the tokenizer run this run trains first (`recipes/train_vit_vqgan.py`
    with these flags, in `--output`/tokenizer, on the same devices)."""
    return TokenizerTraining(
        data=args.data,
        image_size=args.image_size,
        channels=args.channels,
        preset=args.tokenizer_preset,
        steps=args.tokenizer_steps,
        batch_size=args.tokenizer_batch_size,
        perceptual_weight=0.0,
        discriminator_start=tokenizer_gan_start(args),
        eval_images=256,
        seed=args.seed,
        output=os.path.join(args.output, "tokenizer"),
        distribution=args.distribution,
        mesh_shape=args.mesh_shape,
        multi_host=args.multi_host,
    )


def load_tokenizer(args):
    """The tokenizer from --tokenizer, or a freshly trained one; and its description."""
    if args.tokenizer:
        path = args.tokenizer
        tokenizer = load_model(VQGANBase, path)  # a ViT-VQGAN or a CNN VQGAN
        if path in VQGANBase.presets():
            print(
                f"NOTE: built-in preset {path!r} has random weights; its tokens carry no "
                "image content. Pass a trained tokenizer for meaningful samples.",
                flush=True,
            )
        return tokenizer, {"source": path}
    # A restarted run finds its finished stage 1 there and reuses it: the stage-1 run
    # reuses only a run of the same settings and refuses another.
    settings = stage1_settings(args)
    directory = settings.output
    gan_start = tokenizer_gan_start(args)
    print(
        f"== stage 1: training the tokenizer ({args.tokenizer_preset}, {args.tokenizer_steps} "
        f"steps of {args.tokenizer_batch_size}, "
        + (
            "no adversarial phase"
            if gan_start >= args.tokenizer_steps
            else f"GAN losses from step {gan_start}"
        )
        + f"; a time estimate follows its first epoch) into {directory}",
        flush=True,
    )
    start = time.time()
    report = train_tokenizer(settings)
    tokenizer = VitVQGAN.from_preset(os.path.join(directory, "preset"))
    return tokenizer, {
        "source": directory,
        "steps": report["steps"],
        "batch_size": args.tokenizer_batch_size,
        "logit_laplace_weight": report.get("logit_laplace_weight"),
        "seconds": round(time.time() - start, 1),
        "test": report["test"],
    }


def split_dataset_of(args, split, labels, limit=None):
    """The images of a split in file order (batches of 256), the first `limit` only."""
    return split_dataset(
        args.data, split, limit, args.image_size, args.channels or 3, labels=labels
    )


def load_images(args, split, limit=None, labels=False):
    """`split_dataset_of` as numpy: float32 images, and int32 labels with `labels` (else
    None)."""
    images, classes, _ = first_images(
        args.data, split, limit, args.image_size, args.channels or 3, labels=labels
    )
    return images, classes


def tokenize(args, tokenizer, split, limit=None):
    image_size = (args.image_size, args.image_size) if args.image_size else None
    dataset, info = split_dataset_of(args, split, not args.unconditional, limit)
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
        flags.run_directory(stage1_settings(args))
    finished = run.finished_results("metrics.json")
    if finished is not None:
        return finished
    total_start = time.time()
    run.start()
    keras.utils.set_random_seed(args.seed)

    tokenizer, tokenizer_info = load_tokenizer(args)
    height, width = tokenizer.grid_size
    print(
        f"== tokenizing {args.data}: "
        + (f"the first {args.max_train_images}" if args.max_train_images else "all")
        + f" training images and the first {args.validation_images} test images (validation) "
        f"into {height}x{width} token grids, once (cached in {args.output}/tokens_*.npz)",
        flush=True,
    )
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
            ema_momentum=args.ema_momentum,
        )
    )
    steps_per_epoch = args.steps_per_epoch or max(1, args.steps // 6)
    epochs = max(1, args.steps // steps_per_epoch)
    print(
        f"== stage 2: training VIM ({model.count_params():,} parameters, "
        f"{model.num_layers} blocks of width {model.hidden_dim}, "
        f"{'class-conditional' if conditional else 'unconditional'}) on {len(train_ids)} token "
        f"grids for {epochs * steps_per_epoch} steps of {args.batch_size}: {epochs} epochs of "
        f"{steps_per_epoch} steps, each validated; a time estimate follows the first",
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
    start = time.time()
    # Checkpoints every epoch: the same command resumes a killed run where it stopped.
    backup_dir, callbacks = run_checkpoint_and_logs(args.output)
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
        callbacks=callbacks,
    )
    train_seconds = time.time() - start
    logs = {k: round(float(v[-1]), 4) for k, v in history.history.items() if v}
    if args.ema_momentum is not None:
        # fit has written the average into the model: its validation numbers replace those of
        # the last raw weights.
        ema_logs = model.evaluate(validation_data, verbose=0, return_dict=True)
        logs.update({f"val_{k}": round(float(v), 4) for k, v in ema_logs.items()})
        print(
            f"weights: the moving average (momentum {args.ema_momentum}): val bits/token "
            f"{logs.get('val_bits_per_token')}",
            flush=True,
        )

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
    print(
        "== sampling the samples.png grid: "
        + (
            f"{args.samples_per_class} image{'s' if args.samples_per_class > 1 else ''} of "
            f"each of the {num_classes} classes, a row each"
            if conditional
            else f"{args.num_samples} images"
        ),
        flush=True,
    )
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
    evaluation = None
    if args.eval_samples and conditional and args.eval_samples < num_classes:
        print(
            f"NOTE: --eval-samples {args.eval_samples} is below the {num_classes} classes: no "
            "evaluation.",
            flush=True,
        )
    elif args.eval_samples:
        evaluation = evaluate_prior(
            args, model, tokenizer, num_classes, sampling, len(images), sample_seconds
        )

    steps = epochs * steps_per_epoch
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
        "ema_momentum": args.ema_momentum,
        "train_seconds": round(train_seconds, 1),
        "tokens_per_second": round(steps * args.batch_size * model.sequence_length / train_seconds),
        "final_logs": logs,
        "sampling": sampling,
        "sample_rows": rows,
        "sample_seconds": round(sample_seconds, 1),
        "evaluation": evaluation,
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
        f"{logs.get('val_bits_per_token')}, val accuracy {logs.get('val_accuracy')}; "
        f"{evaluation_summary(evaluation)}wrote {args.output}/: samples.png, model.keras, "
        "preset/, history.csv, metrics.json",
        flush=True,
    )
    return metrics


def draw_samples(model, tokenizer, sampling, batch_size, num_samples=None, class_ids=None):
    """Images of `class_ids` (or `num_samples` unconditional ones) as numpy, in `generate`
    calls of exactly `batch_size` samples (the last padded, then cut) so that the sampler
    compiles once; call `i` uses seed `sampling["seed"] + i`."""
    count = num_samples if class_ids is None else len(class_ids)
    images = []
    for call, start in enumerate(range(0, count, batch_size)):
        size = min(batch_size, count - start)
        settings = dict(sampling, seed=sampling["seed"] + call)
        if class_ids is None:
            batch = model.generate_images(tokenizer, num_samples=batch_size, **settings)
            images.append(keras.ops.convert_to_numpy(batch)[:size])
        else:

            def generate(chunk, settings=settings):
                return model.generate_images(tokenizer, class_ids=chunk, **settings)

            chunk = class_ids[start : start + size]
            images.append(call_padded(generate, (chunk,), batch_size))
    return np.concatenate(images)


def evaluate_prior(args, model, tokenizer, num_classes, sampling, grid_count, grid_seconds):
    """`--eval-samples`: draws the samples, scores them and the tokenizer against the test
    split (with the real-data reference); the "evaluation" entry of metrics.json."""
    start = time.time()
    if num_classes:
        per_class = args.eval_samples // num_classes
        class_ids = np.repeat(np.arange(num_classes, dtype="int32"), per_class)
        count = len(class_ids)
    else:
        per_class, class_ids, count = None, None, args.eval_samples
    batch_size = min(grid_count, count)  # the grid's size: its compiled sampler is reused
    calls = -(-count // batch_size)
    print(
        f"== sampling {count} images for the evaluation ("
        + (f"{per_class} of each class in class order, " if num_classes else "")
        + f"{calls} batches of {batch_size}, the grid's settings; ~{calls * grid_seconds:.0f}s "
        f"at the grid's {grid_seconds:.1f}s a batch)",
        flush=True,
    )
    images = draw_samples(model, tokenizer, sampling, batch_size, count, class_ids)
    sample_seconds = time.time() - start
    print(f"sampled {count} images in {sample_seconds:.1f}s", flush=True)

    domain = args.data == "fashion_mnist"  # the shipped classifier's data (32x32x1)
    samples = {
        "count": count,
        "per_class": per_class,
        "sampling": {**sampling, "batch_size": batch_size},  # batch i: seed + i
        "seconds": round(sample_seconds, 1),
    }
    if domain:
        # Built in float32 (as it was trained and recorded) also after --mixed-precision.
        policy = keras.config.dtype_policy()
        keras.config.set_dtype_policy("float32")
        try:
            classifier = keras_vim.metrics.load_domain_classifier()
        finally:
            keras.config.set_dtype_policy(policy)
        test_images, test_labels = load_images(args, "test", labels=True)
        test_data = test_images
    else:
        print(
            "NOTE: the domain metrics (FD, IS and class accuracy with the shipped "
            "Fashion-MNIST classifier) need --data fashion_mnist: skipped.",
            flush=True,
        )
        classifier = None
        test_data, _ = split_dataset_of(args, "test", labels=False)  # streamed
    print(
        "== evaluating: the tokenizer's reconstructions of every test image"
        + (
            f", the {count} samples and {count} training images (the real-data reference) "
            "against the test images, in the shipped Fashion-MNIST classifier's features"
            if domain
            else ""
        ),
        flush=True,
    )
    evaluate_start = time.time()
    reconstruction = keras_vim.metrics.reconstruction_metrics(tokenizer, test_data, classifier)
    evaluation = {"test_images": reconstruction["images"], "samples": samples}
    if domain:
        samples.update(keras_vim.metrics.sample_metrics(images, test_images, class_ids, classifier))
        train_images, _ = load_images(args, "train", limit=count)
        evaluation["reference"] = keras_vim.metrics.real_data_reference(
            train_images, test_images, test_labels, classifier
        )
    else:
        evaluation["note"] = "no domain metrics: they need --data fashion_mnist"
    evaluation["tokenizer"] = reconstruction
    evaluation["evaluate_seconds"] = round(time.time() - evaluate_start, 1)
    evaluation["seconds"] = round(time.time() - start, 1)
    print(f"evaluated in {evaluation['evaluate_seconds']:.1f}s", flush=True)
    return evaluation


def evaluation_summary(evaluation):
    """The samples' scores beside the real data's, for the last line ('' without them)."""
    if evaluation is None:
        return ""
    samples = evaluation["samples"]
    if "reference" not in evaluation:
        return f"{samples['count']} samples drawn (no domain metrics); "
    reference = evaluation["reference"]
    if "class_accuracy" in samples:
        scores = f"class accuracy {samples['class_accuracy']:.3f}"
        real = f"classifier accuracy {reference['test_class_accuracy']:.3f}"
    else:
        scores = f"domain IS {samples['domain_inception_score']:.2f}"
        real = f"IS {reference['domain_inception_score']:.2f}"
    return (
        f"{samples['count']} samples: domain FD {samples['domain_frechet_distance']:.2f}, "
        f"{scores} (real data: domain FD {reference['domain_frechet_distance']:.2f}, {real}); "
    )


if __name__ == "__main__":
    main()
