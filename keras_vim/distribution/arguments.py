"""Command-line flags for `configure`, shared by the recipes."""

import argparse

from keras_vim.distribution.setup import KINDS, configure


def parse_mesh_shape(text):
    """`"2,4"` -> `(2, 4)`; an argparse `type`."""
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise argparse.ArgumentTypeError(
            f"expected positive ints separated by commas (e.g. '8' or '2,4'), got {text!r}"
        )
    return shape


def add_distribution_arguments(parser):
    """Adds `--distribution`, `--mesh-shape` and `--multi-host` to an `ArgumentParser`."""
    group = parser.add_argument_group("distribution")
    group.add_argument(
        "--distribution",
        choices=KINDS,
        default="none",
        help="none: one device. data: replicate the model on every device and split each "
        "batch (JAX: keras.distribution.DataParallel; TensorFlow: MirroredStrategy). model "
        "(JAX only): also split the Transformer kernels over the 'model' axis of the mesh. "
        "--batch-size is the global batch.",
    )
    group.add_argument(
        "--mesh-shape",
        type=parse_mesh_shape,
        default=None,
        help="Device mesh: 'N' for data (all N devices), 'BATCH,MODEL' for model (default "
        "1,N). BATCH * MODEL must equal the number of devices.",
    )
    group.add_argument(
        "--multi-host",
        action="store_true",
        help="JAX: one process per host; calls keras.distribution.initialize() first.",
    )
    return group


def configure_from_args(args, model_class=None, batch_size=None):
    """`configure` with the flags of `add_distribution_arguments`; returns the setup."""
    return configure(
        args.distribution,
        model_class=model_class,
        mesh_shape=args.mesh_shape,
        multi_host=args.multi_host,
        batch_size=batch_size,
    )


def distribution_argv(args):
    """The flags of `args` again, to pass the same setting to another recipe."""
    argv = ["--distribution", args.distribution]
    if args.mesh_shape is not None:
        argv += ["--mesh-shape", ",".join(str(n) for n in args.mesh_shape)]
    if args.multi_host:
        argv.append("--multi-host")
    return argv
