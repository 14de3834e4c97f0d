"""Checked command-line flags for the recipes.

Every flag is checked before a recipe does any work (loads data, trains, creates its output
directory): a bad value stops it with argparse's one-line `error: argument --flag: ...` and
exit status 2. Range checks are argparse `type`s (`integer`, `real`); checks that look at
several flags or at files take the parser and call `parser.error`; `run_directory` checks that
`--output` is new or holds an earlier run of the same settings.
"""

import argparse
import json
import math
import os
import sys

from keras_vim import backend_ops
from keras_vim.models.preset_handles import is_hub_handle
from keras_vim.models.preset_mixin import CONFIG_FILE, PACKAGED_PRESETS_DIR
from keras_vim.utils.run_directory import RunDirectory


def _expected(kind, low, high, low_open, high_open):
    """`'an integer >= 1'`, `'a number > 0'`, `'a number in (0, 1]'`, ..."""
    if low is None and high is None:
        return kind
    if high is None:
        return f"{kind} {'>' if low_open else '>='} {low}"
    if low is None:
        return f"{kind} {'<' if high_open else '<='} {high}"
    return f"{kind} in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def _inside(value, low, high, low_open, high_open):
    above = low is None or value > low or (value == low and not low_open)
    below = high is None or value < high or (value == high and not high_open)
    return above and below


def integer(minimum=None, maximum=None):
    """An argparse `type`: an integer in `[minimum, maximum]` (None: unbounded)."""
    expected = _expected("an integer", minimum, maximum, False, False)

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not _inside(value, minimum, maximum, False, False):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__name__ = expected  # argparse names the type by it in its own messages
    return parse


def real(minimum=None, maximum=None, *, low_open=False, high_open=False):
    """An argparse `type`: a finite number between `minimum` and `maximum` (None: unbounded),
    each bound excluded when `low_open` / `high_open`."""
    expected = _expected("a number", minimum, maximum, low_open, high_open)

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not _inside(value, minimum, maximum, low_open, high_open):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__name__ = expected
    return parse


def list_of(item_type, length=None):
    """An argparse `type`: comma-separated values, each checked by `item_type` (an `integer`
    or a `real`); exactly `length` of them unless None."""

    def parse(text):
        parts = text.split(",")
        if length is not None and len(parts) != length:
            raise argparse.ArgumentTypeError(
                f"expected {length} comma-separated values, got {text!r}"
            )
        try:
            return [item_type(part) for part in parts]
        except argparse.ArgumentTypeError as error:
            raise argparse.ArgumentTypeError(f"{error} (in {text!r})") from None

    return parse


POSITIVE_INT = integer(1)
NON_NEGATIVE_INT = integer(0)
POSITIVE = real(0, low_open=True)
NON_NEGATIVE = real(0)
FRACTION = real(0, 1)  # [0, 1]
DROPOUT = real(0, 1, high_open=True)  # [0, 1)
PROBABILITY = real(0, 1, low_open=True)  # (0, 1]


def add_output_argument(parser, default, what="run"):
    """`--output`, the recipe's run directory (see `run_directory`)."""
    parser.add_argument(
        "--output",
        default=default,
        help=f"Output directory: new, empty, or an earlier {what} of the same command.",
    )


def add_evaluation_arguments(parser, prior_help=""):
    """`--tokenizer`, `--prior`, `--data` and `--image-size` of the recipes that evaluate a
    trained tokenizer and prior (`prior_help` ends the help of `--prior`)."""
    parser.add_argument(
        "--tokenizer",
        default="vit_vqgan_tiny_fashion_mnist",
        help="Tokenizer: preset name, preset directory or .keras file.",
    )
    parser.add_argument(
        "--prior",
        default="vim_tiny_fashion_mnist",
        help=f"VIM: preset name, preset directory or .keras file{prior_help}.",
    )
    parser.add_argument(
        "--data", default="fashion_mnist", help="'fashion_mnist', an image folder or 'tfds:NAME'."
    )
    parser.add_argument(
        "--image-size", type=POSITIVE_INT, default=None, help="Square size (folder/TFDS)."
    )


def preset_config(parser, flag, cls, preset):
    """The configuration of a `cls` preset named by `flag` (a built-in name or a preset
    directory), without building the model; None for an hf:// or kaggle:// handle, which
    only its download can check. An unknown name, or a directory holding no preset of
    `cls` (or of a subclass), is a parser error."""
    family = cls._family()
    owner = next((c for c in family if preset in c.builtin_presets), None)
    if owner is not None:
        entry = owner.builtin_presets[preset]
        if "config" in entry:
            return dict(entry["config"])
        preset = os.path.join(PACKAGED_PRESETS_DIR, entry["directory"])
    elif is_hub_handle(preset):
        return None
    elif not os.path.isdir(preset):
        parser.error(
            f"argument {flag}: unknown {cls.__name__} preset {preset!r}: expected a built-in "
            f"name ({', '.join(sorted(cls.presets()))}), a preset directory or an hf:// or "
            "kaggle:// handle"
        )
    path = os.path.join(preset, CONFIG_FILE)
    try:
        with open(path) as f:
            serialized = json.load(f)
    except (OSError, ValueError) as error:
        parser.error(f"argument {flag}: {preset!r} is not a preset directory ({error})")
    names = [c.__name__ for c in family]
    if not isinstance(serialized, dict) or serialized.get("class_name") not in names:
        found = serialized.get("class_name") if isinstance(serialized, dict) else None
        parser.error(
            f"argument {flag}: {path} describes a {found}, expected a {' or '.join(names)}"
        )
    return dict(serialized.get("config", {}))


def model_config(parser, flag, cls, source):
    """`preset_config` that also takes a `.keras` file (which must exist; its configuration
    is not read)."""
    if source.endswith(".keras"):
        if not os.path.isfile(source):
            parser.error(f"argument {flag}: no such .keras file: {source!r}")
        return None
    return preset_config(parser, flag, cls, source)


def check_file(parser, flag, path):
    """A flag naming a file that must exist (None: not given)."""
    if path is not None and not os.path.isfile(path):
        parser.error(f"argument {flag}: no such file: {path!r}")


def check_data(parser, args, labels=False):
    """`--data` with `--image-size` and `--channels` (when the recipe has them): the default
    data is 32x32x1, TFDS keeps its stored channels, a folder must exist and, for `labels`,
    hold one subfolder per class."""
    image_size = getattr(args, "image_size", None)
    channels = getattr(args, "channels", None)
    if args.data == "fashion_mnist":
        if image_size not in (None, 32):
            parser.error(f"argument --image-size: fashion_mnist is 32x32, got {image_size}")
        if channels not in (None, 1):
            parser.error(f"argument --channels: fashion_mnist has 1 channel, got {channels}")
    elif args.data.startswith("tfds:"):
        if args.data == "tfds:":
            parser.error("argument --data: expected 'tfds:NAME', got 'tfds:'")
        if channels is not None:
            parser.error("argument --channels: applies to image folders; TFDS data keeps its own")
    elif not os.path.isdir(args.data):
        parser.error(
            f"argument --data: expected 'fashion_mnist', 'tfds:NAME' or an existing image "
            f"folder, got {args.data!r}"
        )
    elif labels and not any(
        entry.is_dir() and not entry.name.startswith(".") for entry in os.scandir(args.data)
    ):
        hint = "; pass --unconditional" if hasattr(args, "unconditional") else ""
        parser.error(f"argument --data: {args.data} has no class subfolders, so no labels{hint}")


def check_image_size(parser, flag, config, image_size):
    """The image size (default: the preset's) must be a multiple of the preset's patch size."""
    if config is None or image_size is None or "patch_size" not in config:
        return
    if image_size % config["patch_size"]:
        parser.error(
            f"argument {flag}: {image_size} is not a multiple of the tokenizer's patch size "
            f"{config['patch_size']}"
        )


def check_at_most(parser, flag, value, limit_flag, limit):
    """`flag` (None: not given) must not exceed the value of `limit_flag`."""
    if value is not None and value > limit:
        parser.error(f"argument {flag}: expected at most {limit_flag} ({limit}), got {value}")


DEFAULT_GUIDANCE_SCALE = 2.0


def check_guidance_scale(parser, guidance_scale, conditional, class_dropout):
    """`--guidance-scale` needs a class-conditional prior trained with class dropout (its
    null class is untrained otherwise); `class_dropout` None: not known before loading."""
    if guidance_scale and (not conditional or class_dropout == 0):
        parser.error(
            "argument --guidance-scale: needs a class-conditional prior trained with class "
            "dropout (--class-dropout > 0); this prior "
            + ("has no classes" if not conditional else "has class dropout 0")
        )


def guidance_scale(flag, prior, conditional=True):
    """The guidance scale to sample `prior` with: by default `DEFAULT_GUIDANCE_SCALE` when its
    null class was trained, else none; 0 disables it."""
    trained = conditional and prior.num_classes is not None and prior.class_dropout > 0
    if flag is None:
        return DEFAULT_GUIDANCE_SCALE if trained else None
    if flag and not trained:  # what `check_guidance_scale` could not tell (a hub preset)
        print("NOTE: the prior has no classes or no class dropout: no guidance.", flush=True)
        return None
    return flag or None


def run_settings(args, exclude=("output",)):
    """The settings a run directory and its checkpoint record: every flag but `exclude`,
    and the backend."""
    settings = {k: v for k, v in vars(args).items() if k not in exclude}
    return {"backend": backend_ops.backend_name(), **settings}


def run_directory(args, exclude=("output",)):
    """The `RunDirectory` of `args.output` for the settings of `args`. A directory of another
    run stops the recipe as a bad flag does: a one-line error and exit status 2."""
    run = RunDirectory(args.output, run_settings(args, exclude))
    problem = run.problem()
    if problem:
        print(
            f"{os.path.basename(sys.argv[0])}: error: argument --output: {problem}",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return run
