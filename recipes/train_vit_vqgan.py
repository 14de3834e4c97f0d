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

import keras_vim
from keras_vim.models import VitVQGAN
from keras_vim.pipelines import TokenizerTraining, train_tokenizer
from keras_vim.utils import flags

DEFAULTS = TokenizerTraining()  # each flag's default is the library setting's


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    data = parser.add_argument_group("data")
    data.add_argument(
        "--data",
        default=DEFAULTS.data,
        help="'fashion_mnist' (default), an image folder, or 'tfds:NAME'.",
    )
    data.add_argument(
        "--image-size",
        type=flags.POSITIVE_INT,
        default=DEFAULTS.image_size,
        help="Square image size for folders/TFDS (default: the preset's); a multiple of the "
        "preset's patch size.",
    )
    data.add_argument(
        "--channels",
        type=int,
        choices=(1, 3),
        default=DEFAULTS.channels,
        help="Channels of folder images (default 3; Fashion-MNIST has 1).",
    )
    data.add_argument("--augment", action="store_true", help="Random flips and small shifts.")
    model = parser.add_argument_group("model")
    model.add_argument(
        "--preset",
        default=DEFAULTS.preset,
        help=f"Built-in preset or preset directory; built-ins: {', '.join(VitVQGAN.presets())}.",
    )
    model.add_argument(
        "--num-codes",
        type=flags.integer(2),
        default=DEFAULTS.num_codes,
        help="Codebook size (at least 2).",
    )
    model.add_argument(
        "--code-dim",
        type=flags.POSITIVE_INT,
        default=DEFAULTS.code_dim,
        help="Factorized lookup dim.",
    )
    model.add_argument(
        "--no-logit-laplace",
        action="store_true",
        help="Parti variant: predict pixels, no logit-Laplace loss.",
    )
    train = parser.add_argument_group("training")
    train.add_argument(
        "--steps", type=flags.POSITIVE_INT, default=DEFAULTS.steps, help="Training steps."
    )
    train.add_argument("--batch-size", type=flags.POSITIVE_INT, default=DEFAULTS.batch_size)
    train.add_argument(
        "--learning-rate",
        type=flags.POSITIVE,
        default=DEFAULTS.learning_rate,
        help="Peak learning rate (paper: 1e-4 at batch 256 for 500k steps).",
    )
    train.add_argument(
        "--final-learning-rate",
        type=flags.NON_NEGATIVE,
        default=DEFAULTS.final_learning_rate,
        help="Learning rate at the last step (default: peak / 10).",
    )
    train.add_argument(
        "--warmup-steps",
        type=flags.NON_NEGATIVE_INT,
        default=DEFAULTS.warmup_steps,
        help="Linear warm-up steps (default: 10%% of --steps).",
    )
    train.add_argument("--weight-decay", type=flags.NON_NEGATIVE, default=DEFAULTS.weight_decay)
    train.add_argument("--l2-weight", type=flags.NON_NEGATIVE, default=DEFAULTS.l2_weight)
    train.add_argument(
        "--logit-laplace-weight",
        type=flags.NON_NEGATIVE,
        default=DEFAULTS.logit_laplace_weight,
        help="Weight of the logit-Laplace NLL (paper: 0.1). Default 0: on the main job's "
        "tokenizer it took test MSE 0.0083-0.0084 to 0.0048 and domain FD 22 to 11 (README, "
        "Codebook usage); the decoder still predicts the logit-Laplace location.",
    )
    train.add_argument("--vq-weight", type=flags.NON_NEGATIVE, default=DEFAULTS.vq_weight)
    train.add_argument(
        "--adversarial-weight", type=flags.NON_NEGATIVE, default=DEFAULTS.adversarial_weight
    )
    train.add_argument(
        "--discriminator-start",
        type=flags.NON_NEGATIVE_INT,
        default=DEFAULTS.discriminator_start,
        help="Step at which the GAN losses start (default: half of --steps). At --steps or "
        "later there is no adversarial phase: the GAN terms are left out (not logged, the "
        "discriminator not trained).",
    )
    train.add_argument(
        "--r1-weight", type=flags.NON_NEGATIVE, default=DEFAULTS.r1_weight, help="R1 penalty gamma."
    )
    train.add_argument(
        "--perceptual-weight",
        type=flags.NON_NEGATIVE,
        default=DEFAULTS.perceptual_weight,
        help="LPIPS-style VGG16 term; skipped with a notice if no VGG weights "
        "are found and --vgg-weights is not given.",
    )
    train.add_argument(
        "--vgg-weights",
        default=DEFAULTS.vgg_weights,
        help="Path to VGG16 no-top weights (default: Keras' cached file).",
    )
    train.add_argument(
        "--dead-code-restart-fraction",
        type=flags.FRACTION,
        default=DEFAULTS.dead_code_restart_fraction,
        help="Re-seed dead codes during this fraction of training, in [0, 1] (for presets "
        "with restart_dead_codes).",
    )
    train.add_argument("--mixed-precision", action="store_true", help="mixed_bfloat16.")
    train.add_argument(
        "--steps-per-epoch",
        type=flags.POSITIVE_INT,
        default=DEFAULTS.steps_per_epoch,
        help="Steps between progress lines, at most --steps (default: --steps / 10).",
    )
    train.add_argument("--seed", type=flags.NON_NEGATIVE_INT, default=DEFAULTS.seed)
    parser.add_argument(
        "--eval-images",
        type=flags.POSITIVE_INT,
        default=DEFAULTS.eval_images,
        help="Test images for the final report.",
    )
    flags.add_output_argument(parser, DEFAULTS.output)
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


def main(argv=None):
    args = parse_args(argv)
    settings = TokenizerTraining(**vars(args))
    run = flags.run_directory(settings)  # new, or an earlier run of these settings
    return train_tokenizer(settings, run)


if __name__ == "__main__":
    main()
