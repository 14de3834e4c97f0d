"""Train a ViT-VQGAN tokenizer (stage 1).

With no arguments it trains the tiny tokenizer on the default dataset (Fashion-MNIST, 32x32)
and writes into `runs/vit_vqgan/`: the model (`model.keras` and a preset directory), a
reconstruction grid (`reconstructions.png`: originals above, reconstructions below) and
`metrics.json`. Choose the backend with KERAS_BACKEND (jax, torch or tensorflow).

Every flag is checked before any work. `--output` belongs to one run: the same command resumes
an interrupted run (or, once finished, reuses its results); other settings are refused there.

    KERAS_BACKEND=jax python recipes/train_vit_vqgan.py
    KERAS_BACKEND=jax python recipes/train_vit_vqgan.py --data path/to/folder --image-size 64
    KERAS_BACKEND=jax python recipes/train_vit_vqgan.py --data tfds:celeb_a_hq/256 \
        --preset vit_vqgan_bb --image-size 256 --steps 500000 --batch-size 256 \
        --learning-rate 1e-4 --final-learning-rate 5e-5 --logit-laplace-weight 0.1  # paper
"""

import argparse
import json
import os
import time

import keras
import numpy as np

import keras_vim
from keras_vim.losses.perceptual import imagenet_vgg16_weights_path
from keras_vim.models import VitVQGAN
from keras_vim.training.resumable_fit import completed_epochs, fit_resumable
from keras_vim.utils import flags


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    data = parser.add_argument_group("data")
    data.add_argument(
        "--data",
        default="fashion_mnist",
        help="'fashion_mnist' (default), an image folder, or 'tfds:NAME'.",
    )
    data.add_argument(
        "--image-size",
        type=flags.POSITIVE_INT,
        default=None,
        help="Square image size for folders/TFDS (default: the preset's); a multiple of the "
        "preset's patch size.",
    )
    data.add_argument(
        "--channels",
        type=int,
        choices=(1, 3),
        default=None,
        help="Channels of folder images (default 3; Fashion-MNIST has 1).",
    )
    data.add_argument("--augment", action="store_true", help="Random flips and small shifts.")
    model = parser.add_argument_group("model")
    model.add_argument(
        "--preset",
        default="vit_vqgan_tiny",
        help=f"Built-in preset or preset directory; built-ins: {', '.join(VitVQGAN.presets())}.",
    )
    model.add_argument(
        "--num-codes", type=flags.integer(2), default=None, help="Codebook size (at least 2)."
    )
    model.add_argument(
        "--code-dim", type=flags.POSITIVE_INT, default=None, help="Factorized lookup dim."
    )
    model.add_argument(
        "--no-logit-laplace",
        action="store_true",
        help="Parti variant: predict pixels, no logit-Laplace loss.",
    )
    train = parser.add_argument_group("training")
    train.add_argument("--steps", type=flags.POSITIVE_INT, default=1000, help="Training steps.")
    train.add_argument("--batch-size", type=flags.POSITIVE_INT, default=64)
    train.add_argument(
        "--learning-rate",
        type=flags.POSITIVE,
        default=1e-3,
        help="Peak learning rate (paper: 1e-4 at batch 256 for 500k steps).",
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
        help="Linear warm-up steps (default: 10%% of --steps).",
    )
    train.add_argument("--weight-decay", type=flags.NON_NEGATIVE, default=1e-4)
    train.add_argument("--l2-weight", type=flags.NON_NEGATIVE, default=1.0)
    train.add_argument(
        "--logit-laplace-weight",
        type=flags.NON_NEGATIVE,
        default=0.0,
        help="Weight of the logit-Laplace NLL (paper: 0.1). Default 0: on the main job's "
        "tokenizer it took test MSE 0.0083-0.0084 to 0.0048 and domain FD 22 to 11 (README, "
        "Codebook usage); the decoder still predicts the logit-Laplace location.",
    )
    train.add_argument("--vq-weight", type=flags.NON_NEGATIVE, default=1.0)
    train.add_argument("--adversarial-weight", type=flags.NON_NEGATIVE, default=0.1)
    train.add_argument(
        "--discriminator-start",
        type=flags.NON_NEGATIVE_INT,
        default=None,
        help="Step at which the GAN losses start (default: half of --steps). At --steps or "
        "later there is no adversarial phase: the GAN terms are left out (not logged, the "
        "discriminator not trained).",
    )
    train.add_argument(
        "--r1-weight", type=flags.NON_NEGATIVE, default=0.0, help="R1 penalty gamma."
    )
    train.add_argument(
        "--perceptual-weight",
        type=flags.NON_NEGATIVE,
        default=0.1,
        help="LPIPS-style VGG16 term; skipped with a notice if no VGG weights "
        "are found and --vgg-weights is not given.",
    )
    train.add_argument(
        "--vgg-weights",
        default=None,
        help="Path to VGG16 no-top weights (default: Keras' cached file).",
    )
    train.add_argument(
        "--dead-code-restart-fraction",
        type=flags.FRACTION,
        default=0.8,
        help="Re-seed dead codes during this fraction of training, in [0, 1] (for presets "
        "with restart_dead_codes).",
    )
    train.add_argument("--mixed-precision", action="store_true", help="mixed_bfloat16.")
    train.add_argument(
        "--steps-per-epoch",
        type=flags.POSITIVE_INT,
        default=None,
        help="Steps between progress lines, at most --steps (default: --steps / 10).",
    )
    train.add_argument("--seed", type=flags.NON_NEGATIVE_INT, default=0)
    parser.add_argument(
        "--eval-images",
        type=flags.POSITIVE_INT,
        default=1024,
        help="Test images for the final report.",
    )
    parser.add_argument(
        "--output",
        default="runs/vit_vqgan",
        help="Output directory: new, empty, or an earlier run of the same command.",
    )
    keras_vim.distribution.add_distribution_arguments(parser)
    args = parser.parse_args(argv)
    check_args(parser, args)
    return args


def check_args(parser, args):
    """The checks that look at several flags or at files (`parser.error` if one fails)."""
    flags.check_data(parser, args)
    config = flags.preset_config(parser, "--preset", VitVQGAN, args.preset)
    image_size = args.image_size or (32 if args.data == "fashion_mnist" else None)
    flags.check_image_size(parser, "--image-size", config, image_size)
    flags.check_at_most(parser, "--warmup-steps", args.warmup_steps, "--steps", args.steps)
    flags.check_at_most(parser, "--steps-per-epoch", args.steps_per_epoch, "--steps", args.steps)
    flags.check_file(parser, "--vgg-weights", args.vgg_weights)


def perceptual_settings(args):
    """The perceptual weight and VGG weights to use, and a notice when the term is skipped."""
    if args.perceptual_weight == 0:
        return 0.0, None, None
    if args.vgg_weights:
        return args.perceptual_weight, args.vgg_weights, None
    try:
        return args.perceptual_weight, imagenet_vgg16_weights_path(), None
    except FileNotFoundError as error:
        notice = (
            f"NOTE: perceptual loss skipped (weight {args.perceptual_weight} -> 0): {error} "
            "Pass --vgg-weights PATH to use it, or --perceptual-weight 0 to silence this."
        )
        return 0.0, None, notice


def take_images(dataset, count):
    """The first `count` images of a batched dataset, as a float32 numpy array."""
    images = []
    for batch in dataset:
        batch = batch[0] if isinstance(batch, (tuple, list)) else batch
        images.append(np.asarray(batch))
        if sum(len(b) for b in images) >= count:
            break
    return np.concatenate(images)[:count]


def main(argv=None):
    args = parse_args(argv)
    run = flags.run_directory(args)  # new, or an earlier run of these settings
    finished = run.finished_results("metrics.json")
    if finished is not None:
        return finished
    keras.utils.set_random_seed(args.seed)
    if args.mixed_precision:
        keras.config.set_dtype_policy("mixed_bfloat16")

    overrides = {}
    if args.num_codes is not None:
        overrides["num_codes"] = args.num_codes
    if args.code_dim is not None:
        overrides["code_dim"] = args.code_dim
    if args.no_logit_laplace:
        overrides["logit_laplace"] = False
    image_size = (args.image_size, args.image_size) if args.image_size else None

    train_data, info = keras_vim.data.load_dataset(
        args.data,
        "train",
        image_size=image_size,
        batch_size=args.batch_size,
        labels=False,
        channels=args.channels or 3,
        repeat=True,
        drop_remainder=True,
        augment=args.augment,
        seed=args.seed,
    )
    test_data, _ = keras_vim.data.load_dataset(
        args.data,
        "test",
        image_size=image_size,
        batch_size=256,
        labels=False,
        channels=args.channels or 3,
        shuffle=False,
    )
    overrides["channels"] = info["channels"]
    if image_size:
        overrides["image_size"] = image_size
    elif args.data == "fashion_mnist":
        overrides["image_size"] = (32, 32)
    # --distribution: the model built, compiled and fitted below runs on all devices.
    setup = keras_vim.distribution.configure_from_args(args, VitVQGAN, batch_size=args.batch_size)
    if setup.kind != "none":
        print(f"distribution: {setup}", flush=True)
    model = VitVQGAN.from_preset(args.preset, **overrides)

    perceptual_weight, vgg_weights, notice = perceptual_settings(args)
    if notice:
        print(notice, flush=True)
    warmup = args.warmup_steps if args.warmup_steps is not None else args.steps // 10
    final_lr = (
        args.learning_rate / 10 if args.final_learning_rate is None else args.final_learning_rate
    )

    def optimizer():
        return keras_vim.training.vit_vqgan_optimizer(
            total_steps=args.steps,
            warmup_steps=warmup,
            peak_learning_rate=args.learning_rate,
            final_learning_rate=final_lr,
            weight_decay=args.weight_decay,
        )

    discriminator_start = (
        args.discriminator_start if args.discriminator_start is not None else args.steps // 2
    )
    steps_per_epoch = args.steps_per_epoch or max(1, args.steps // 10)
    epochs = max(1, args.steps // steps_per_epoch)
    # A GAN phase that would start at or after the last step never runs: the adversarial
    # terms are then left out (weight 0), so the progress lines do not log zeros for them.
    adversarial_weight = args.adversarial_weight
    if discriminator_start >= epochs * steps_per_epoch and adversarial_weight:
        adversarial_weight = 0.0
        print(
            f"no adversarial phase: the GAN losses would start at step {discriminator_start} "
            f"(--discriminator-start), after the run's {epochs * steps_per_epoch} steps; the "
            "discriminator is not trained.",
            flush=True,
        )
    model.compile(
        optimizer=optimizer(),
        discriminator_optimizer=optimizer(),
        l2_weight=args.l2_weight,
        logit_laplace_weight=0.0 if args.no_logit_laplace else args.logit_laplace_weight,
        perceptual_weight=perceptual_weight,
        perceptual_network_weights=vgg_weights,
        adversarial_weight=adversarial_weight,
        vq_weight=args.vq_weight,
        discriminator_start=discriminator_start,
        r1_weight=args.r1_weight,
        dead_code_restart_steps=int(args.dead_code_restart_fraction * args.steps),
    )

    test_images = take_images(test_data, args.eval_images)
    before = keras_vim.metrics.tokenizer_report(model, test_images)
    print(f"untrained: {json.dumps(before)}", flush=True)

    run.start()  # the directory is created only now, when the flags have proved usable
    start = time.time()
    # Checkpoints every epoch (both optimizers included): the same command resumes a killed run.
    backup_dir = os.path.join(args.output, "checkpoint")
    resumed = completed_epochs(backup_dir) > 0
    history = fit_resumable(
        model,
        train_data,
        steps_per_epoch=steps_per_epoch,
        epochs=epochs,
        backup_dir=backup_dir,
        run_settings=run.settings,
        verbose=2,
        shuffle=False,  # the tf.data pipeline shuffles; this only silences Keras' notice
        callbacks=[
            keras.callbacks.CSVLogger(os.path.join(args.output, "history.csv"), append=resumed),
            keras_vim.training.TimeEstimate(),
        ],
    )
    seconds = time.time() - start

    after = keras_vim.metrics.tokenizer_report(model, test_images)
    print(f"trained:   {json.dumps(after)}", flush=True)
    metrics = {
        "backend": keras.backend.backend(),
        "data": info["name"],
        "preset": args.preset,
        "steps": epochs * steps_per_epoch,
        "batch_size": args.batch_size,
        "train_seconds": round(seconds, 1),
        "images_per_second": round(epochs * steps_per_epoch * args.batch_size / seconds, 1),
        "logit_laplace_weight": model.loss_weights["logit_laplace"],
        "perceptual_weight": perceptual_weight,
        "adversarial_weight": adversarial_weight,
        "discriminator_start": discriminator_start,
        "test_untrained": before,
        "test": after,
        "final_train_logs": {k: float(v[-1]) for k, v in history.history.items() if v},
        "parameters": int(model.count_params()),
    }
    # Into place together once all are written: never beside an earlier attempt's.
    with run.publishing() as staging:
        model.save(os.path.join(staging, "model.keras"))
        model.save_to_preset(os.path.join(staging, "preset"))
        shown = test_images[:16]
        reconstructions = model.decode(model.encode(shown))
        keras_vim.utils.save_image_grid(
            np.concatenate([shown, keras.ops.convert_to_numpy(reconstructions)]),
            os.path.join(staging, "reconstructions.png"),
            columns=16,
            scale=3,
        )
        with open(os.path.join(staging, "metrics.json"), "w") as f:
            json.dump(metrics, f, indent=2)
    print(f"wrote {args.output}/: model.keras, preset/, reconstructions.png, metrics.json")
    return metrics


if __name__ == "__main__":
    main()
