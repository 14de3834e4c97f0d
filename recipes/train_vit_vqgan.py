"""Train a ViT-VQGAN tokenizer (stage 1).

With no arguments it trains the tiny tokenizer on the default dataset (Fashion-MNIST, 32x32)
and writes into `runs/vit_vqgan/`: the model (`model.keras` and a preset directory), a
reconstruction grid (`reconstructions.png`: originals above, reconstructions below) and
`metrics.json`. Choose the backend with KERAS_BACKEND (jax, torch or tensorflow).

    KERAS_BACKEND=jax python recipes/train_vit_vqgan.py
    KERAS_BACKEND=jax python recipes/train_vit_vqgan.py --data path/to/folder --image-size 64
    KERAS_BACKEND=jax python recipes/train_vit_vqgan.py --data tfds:celeb_a_hq/256 \
        --preset vit_vqgan_bb --image-size 256 --steps 500000 --batch-size 256
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
        type=int,
        default=None,
        help="Square image size for folders/TFDS (default: the preset's).",
    )
    data.add_argument(
        "--channels", type=int, default=None, help="Image channels (default: the data's)."
    )
    data.add_argument("--augment", action="store_true", help="Random flips and small shifts.")
    model = parser.add_argument_group("model")
    model.add_argument(
        "--preset",
        default="vit_vqgan_tiny",
        help=f"Built-in preset or preset directory; built-ins: {', '.join(VitVQGAN.presets())}.",
    )
    model.add_argument("--num-codes", type=int, default=None, help="Codebook size.")
    model.add_argument("--code-dim", type=int, default=None, help="Factorized lookup dim.")
    model.add_argument(
        "--no-logit-laplace",
        action="store_true",
        help="Parti variant: predict pixels, no logit-Laplace loss.",
    )
    train = parser.add_argument_group("training")
    train.add_argument("--steps", type=int, default=1000, help="Training steps.")
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument(
        "--learning-rate",
        type=float,
        default=1e-3,
        help="Peak learning rate (paper: 1e-4 at batch 256 for 500k steps).",
    )
    train.add_argument(
        "--final-learning-rate",
        type=float,
        default=None,
        help="Learning rate at the last step (default: peak / 10).",
    )
    train.add_argument(
        "--warmup-steps",
        type=int,
        default=None,
        help="Linear warm-up steps (default: 10%% of --steps).",
    )
    train.add_argument("--weight-decay", type=float, default=1e-4)
    train.add_argument("--l2-weight", type=float, default=1.0)
    train.add_argument("--logit-laplace-weight", type=float, default=0.1)
    train.add_argument("--vq-weight", type=float, default=1.0)
    train.add_argument("--adversarial-weight", type=float, default=0.1)
    train.add_argument(
        "--discriminator-start",
        type=int,
        default=None,
        help="Step at which the GAN losses start (default: half of --steps).",
    )
    train.add_argument("--r1-weight", type=float, default=0.0, help="R1 penalty gamma.")
    train.add_argument(
        "--perceptual-weight",
        type=float,
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
        type=float,
        default=0.8,
        help="Re-seed dead codes during this fraction of training (for presets "
        "with restart_dead_codes).",
    )
    train.add_argument("--mixed-precision", action="store_true", help="mixed_bfloat16.")
    train.add_argument(
        "--steps-per-epoch",
        type=int,
        default=None,
        help="Steps between progress lines (default: --steps / 10).",
    )
    train.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--eval-images", type=int, default=1024, help="Test images for the final report."
    )
    parser.add_argument("--output", default="runs/vit_vqgan", help="Output directory.")
    keras_vim.distribution.add_distribution_arguments(parser)
    return parser.parse_args(argv)


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
    keras.utils.set_random_seed(args.seed)
    if args.mixed_precision:
        keras.config.set_dtype_policy("mixed_bfloat16")
    os.makedirs(args.output, exist_ok=True)

    overrides = {}
    if args.num_codes:
        overrides["num_codes"] = args.num_codes
    if args.code_dim:
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
    final_lr = args.final_learning_rate or args.learning_rate / 10

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
    model.compile(
        optimizer=optimizer(),
        discriminator_optimizer=optimizer(),
        l2_weight=args.l2_weight,
        logit_laplace_weight=0.0 if args.no_logit_laplace else args.logit_laplace_weight,
        perceptual_weight=perceptual_weight,
        perceptual_network_weights=vgg_weights,
        adversarial_weight=args.adversarial_weight,
        vq_weight=args.vq_weight,
        discriminator_start=discriminator_start,
        r1_weight=args.r1_weight,
        dead_code_restart_steps=int(args.dead_code_restart_fraction * args.steps),
    )

    test_images = take_images(test_data, args.eval_images)
    before = keras_vim.metrics.tokenizer_report(model, test_images)
    print(f"untrained: {json.dumps(before)}", flush=True)

    steps_per_epoch = args.steps_per_epoch or max(1, args.steps // 10)
    epochs = max(1, args.steps // steps_per_epoch)
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
        verbose=2,
        shuffle=False,  # the tf.data pipeline shuffles; this only silences Keras' notice
        callbacks=[
            keras.callbacks.CSVLogger(os.path.join(args.output, "history.csv"), append=resumed)
        ],
    )
    seconds = time.time() - start

    after = keras_vim.metrics.tokenizer_report(model, test_images)
    print(f"trained:   {json.dumps(after)}", flush=True)
    model.save(os.path.join(args.output, "model.keras"))
    model.save_to_preset(os.path.join(args.output, "preset"))
    shown = test_images[:16]
    reconstructions = model.decode(model.encode(shown))
    keras_vim.utils.save_image_grid(
        np.concatenate([shown, keras.ops.convert_to_numpy(reconstructions)]),
        os.path.join(args.output, "reconstructions.png"),
        columns=16,
        scale=3,
    )
    metrics = {
        "backend": keras.backend.backend(),
        "data": info["name"],
        "preset": args.preset,
        "steps": epochs * steps_per_epoch,
        "batch_size": args.batch_size,
        "train_seconds": round(seconds, 1),
        "images_per_second": round(epochs * steps_per_epoch * args.batch_size / seconds, 1),
        "perceptual_weight": perceptual_weight,
        "test_untrained": before,
        "test": after,
        "final_train_logs": {k: float(v[-1]) for k, v in history.history.items() if v},
        "parameters": int(model.count_params()),
    }
    with open(os.path.join(args.output, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    print(f"wrote {args.output}/: model.keras, preset/, reconstructions.png, metrics.json")
    return metrics


if __name__ == "__main__":
    main()
