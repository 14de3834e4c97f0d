"""The stage-1 run: train a ViT-VQGAN tokenizer and write its artefacts into a run directory.

`recipes/train_vit_vqgan.py` is this run from the command line (its flags are the fields of
`TokenizerTraining`), and `recipes/train_vim.py` runs it for the tokenizer it trains first.
"""

import dataclasses
import json
import os
import time

import keras
import numpy as np

from keras_vim import distribution
from keras_vim.data.sources import load_dataset
from keras_vim.losses.perceptual import imagenet_vgg16_weights_path
from keras_vim.metrics.tokenizer_evaluation import tokenizer_report
from keras_vim.models import VitVQGAN
from keras_vim.pipelines.loading import first_images
from keras_vim.training.resumable_fit import fit_resumable, run_checkpoint_and_logs
from keras_vim.training.schedules import vit_vqgan_optimizer
from keras_vim.utils.checks import check_integer, check_real
from keras_vim.utils.flags import run_settings
from keras_vim.utils.image_grid import save_image_grid
from keras_vim.utils.run_directory import RunDirectory


@dataclasses.dataclass
class TokenizerTraining:
    """The settings of one stage-1 run (`train_tokenizer`); each is the recipe flag of the
    same name (`recipes/train_vit_vqgan.py --help` says what each does).

    The run directory `output` records them all but `output` (and the backend): the same
    settings resume an interrupted run there or reuse its results; others are refused.
    """

    data: str = "fashion_mnist"
    image_size: int | None = None  # square; default the preset's (32 for Fashion-MNIST)
    channels: int | None = None  # of folder images; default 3
    augment: bool = False
    preset: str = "vit_vqgan_tiny"
    num_codes: int | None = None
    code_dim: int | None = None
    no_logit_laplace: bool = False
    steps: int = 1000
    batch_size: int = 64
    learning_rate: float = 1e-3
    final_learning_rate: float | None = None  # default learning_rate / 10
    warmup_steps: int | None = None  # default 10% of steps
    weight_decay: float = 1e-4
    l2_weight: float = 1.0
    logit_laplace_weight: float = 0.0
    vq_weight: float = 1.0
    adversarial_weight: float = 0.1
    discriminator_start: int | None = None  # default half of steps
    r1_weight: float = 0.0
    perceptual_weight: float = 0.1
    vgg_weights: str | None = None  # default Keras' cached VGG16 file
    dead_code_restart_fraction: float = 0.8
    mixed_precision: bool = False
    steps_per_epoch: int | None = None  # default steps / 10
    seed: int = 0
    eval_images: int = 1024
    output: str = "runs/vit_vqgan"
    # As `keras_vim.distribution.add_distribution_arguments` defines them.
    distribution: str = "none"
    mesh_shape: tuple | None = None
    multi_host: bool = False

    def __post_init__(self):
        for name, minimum in (("steps", 1), ("batch_size", 1), ("seed", 0), ("eval_images", 1)):
            check_integer(name, getattr(self, name), minimum=minimum)
        for name, minimum in (
            ("image_size", 1),
            ("num_codes", 2),
            ("code_dim", 1),
            ("warmup_steps", 0),
            ("discriminator_start", 0),
            ("steps_per_epoch", 1),
        ):
            check_integer(name, getattr(self, name), minimum=minimum, allow_none=True)
        if self.channels not in (None, 1, 3):
            raise ValueError(f"`channels` must be None, 1 or 3, got {self.channels!r}.")
        check_real("learning_rate", self.learning_rate, minimum=0, include_minimum=False)
        check_real("final_learning_rate", self.final_learning_rate, minimum=0, allow_none=True)
        for name in ("weight_decay", "l2_weight", "logit_laplace_weight", "vq_weight"):
            check_real(name, getattr(self, name), minimum=0)
        for name in ("adversarial_weight", "r1_weight", "perceptual_weight"):
            check_real(name, getattr(self, name), minimum=0)
        check_real("dead_code_restart_fraction", self.dead_code_restart_fraction, 0, 1)
        for name in ("warmup_steps", "steps_per_epoch"):
            value = getattr(self, name)
            if value is not None and value > self.steps:
                raise ValueError(f"`{name}` must be at most `steps` ({self.steps}), got {value}.")

    def run_directory(self):
        """The `RunDirectory` of `output` for these settings (as the recipe's flags record
        them: every setting but `output`, and the backend)."""
        return RunDirectory(self.output, run_settings(self))


def perceptual_settings(settings):
    """The perceptual weight and VGG weights to use, and a notice when the term is skipped
    (no VGG16 weights given or cached: a run never downloads them)."""
    if settings.perceptual_weight == 0:
        return 0.0, None, None
    if settings.vgg_weights:
        return settings.perceptual_weight, settings.vgg_weights, None
    try:
        return settings.perceptual_weight, imagenet_vgg16_weights_path(), None
    except FileNotFoundError as error:
        notice = (
            f"NOTE: perceptual loss skipped (weight {settings.perceptual_weight} -> 0): {error} "
            "Pass --vgg-weights PATH to use it, or --perceptual-weight 0 to silence this."
        )
        return 0.0, None, notice


def _model_overrides(settings, channels):
    overrides = {"channels": channels}
    if settings.num_codes is not None:
        overrides["num_codes"] = settings.num_codes
    if settings.code_dim is not None:
        overrides["code_dim"] = settings.code_dim
    if settings.no_logit_laplace:
        overrides["logit_laplace"] = False
    if settings.image_size:
        overrides["image_size"] = (settings.image_size, settings.image_size)
    elif settings.data == "fashion_mnist":
        overrides["image_size"] = (32, 32)
    return overrides


def train_tokenizer(settings, run=None):
    """Trains a `VitVQGAN` as `settings` say and writes into `settings.output`: `model.keras`,
    `preset/`, `reconstructions.png` (test images above their reconstructions),
    `history.csv` and `metrics.json`; returns the metrics (the JSON's contents).

    The run checkpoints every epoch, so the same settings resume a killed run; a finished
    run's metrics are returned without training again. Progress goes to stdout.

    Args:
        settings: a `TokenizerTraining`.
        run: its `RunDirectory` (default `settings.run_directory()`); a directory holding
            another run is a ValueError.
    """
    if not isinstance(settings, TokenizerTraining):
        raise TypeError(f"`settings` must be a TokenizerTraining, got {type(settings).__name__}.")
    run = run if run is not None else settings.run_directory()
    problem = run.problem()
    if problem:
        raise ValueError(problem)
    finished = run.finished_results("metrics.json")
    if finished is not None:
        return finished
    keras.utils.set_random_seed(settings.seed)
    if settings.mixed_precision:
        keras.config.set_dtype_policy("mixed_bfloat16")

    image_size = (settings.image_size,) * 2 if settings.image_size else None
    channels = settings.channels or 3
    train_data, info = load_dataset(
        settings.data,
        "train",
        image_size=image_size,
        batch_size=settings.batch_size,
        labels=False,
        channels=channels,
        repeat=True,
        drop_remainder=True,
        augment=settings.augment,
        seed=settings.seed,
    )
    # distribution: the model built, compiled and fitted below runs on all devices.
    setup = distribution.configure_from_args(settings, VitVQGAN, batch_size=settings.batch_size)
    if setup.kind != "none":
        print(f"distribution: {setup}", flush=True)
    model = VitVQGAN.from_preset(settings.preset, **_model_overrides(settings, info["channels"]))
    schedule = _compile(model, settings)
    test_images, _, _ = first_images(
        settings.data, "test", settings.eval_images, settings.image_size, channels
    )

    before = tokenizer_report(model, test_images)
    print(f"untrained: {json.dumps(before)}", flush=True)

    run.start()  # the directory is created only now, when the settings have proved usable
    start = time.time()
    # Checkpoints every epoch (both optimizers included): the same settings resume a killed run.
    backup_dir, callbacks = run_checkpoint_and_logs(settings.output)
    history = fit_resumable(
        model,
        train_data,
        steps_per_epoch=schedule["steps_per_epoch"],
        epochs=schedule["epochs"],
        backup_dir=backup_dir,
        run_settings=run.settings,
        verbose=2,
        shuffle=False,  # the tf.data pipeline shuffles; this only silences Keras' notice
        callbacks=callbacks,
    )
    seconds = time.time() - start

    after = tokenizer_report(model, test_images)
    print(f"trained:   {json.dumps(after)}", flush=True)
    steps = schedule["epochs"] * schedule["steps_per_epoch"]
    metrics = {
        "backend": run.settings["backend"],  # as recorded with the run
        "data": info["name"],
        "preset": settings.preset,
        "steps": steps,
        "batch_size": settings.batch_size,
        "train_seconds": round(seconds, 1),
        "images_per_second": round(steps * settings.batch_size / seconds, 1),
        "logit_laplace_weight": model.loss_weights["logit_laplace"],
        "perceptual_weight": schedule["perceptual_weight"],
        "adversarial_weight": schedule["adversarial_weight"],
        "discriminator_start": schedule["discriminator_start"],
        "test_untrained": before,
        "test": after,
        "final_train_logs": {k: float(v[-1]) for k, v in history.history.items() if v},
        "parameters": int(model.count_params()),
    }
    _publish(run, model, test_images[:16], metrics)
    print(f"wrote {settings.output}/: model.keras, preset/, reconstructions.png, metrics.json")
    return metrics


def _compile(model, settings):
    """Compiles `model` with the run's losses and schedules; returns what the run uses."""
    perceptual_weight, vgg_weights, notice = perceptual_settings(settings)
    if notice:
        print(notice, flush=True)
    steps = settings.steps
    warmup = settings.warmup_steps if settings.warmup_steps is not None else steps // 10
    final_lr = settings.final_learning_rate
    final_lr = settings.learning_rate / 10 if final_lr is None else final_lr

    def optimizer():
        return vit_vqgan_optimizer(
            total_steps=steps,
            warmup_steps=warmup,
            peak_learning_rate=settings.learning_rate,
            final_learning_rate=final_lr,
            weight_decay=settings.weight_decay,
        )

    start = settings.discriminator_start
    discriminator_start = start if start is not None else steps // 2
    steps_per_epoch = settings.steps_per_epoch or max(1, steps // 10)
    epochs = max(1, steps // steps_per_epoch)
    # A GAN phase that would start at or after the last step never runs: the adversarial
    # terms are then left out (weight 0), so the progress lines do not log zeros for them.
    adversarial_weight = settings.adversarial_weight
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
        l2_weight=settings.l2_weight,
        logit_laplace_weight=0.0 if settings.no_logit_laplace else settings.logit_laplace_weight,
        perceptual_weight=perceptual_weight,
        perceptual_network_weights=vgg_weights,
        adversarial_weight=adversarial_weight,
        vq_weight=settings.vq_weight,
        discriminator_start=discriminator_start,
        r1_weight=settings.r1_weight,
        dead_code_restart_steps=int(settings.dead_code_restart_fraction * steps),
    )
    return {
        "perceptual_weight": perceptual_weight,
        "adversarial_weight": adversarial_weight,
        "discriminator_start": discriminator_start,
        "steps_per_epoch": steps_per_epoch,
        "epochs": epochs,
    }


def _publish(run, model, shown, metrics):
    """Writes the run's files; they go into place together once all are written, never
    beside an earlier attempt's."""
    with run.publishing() as staging:
        model.save(os.path.join(staging, "model.keras"))
        model.save_to_preset(os.path.join(staging, "preset"))
        reconstructions = keras.ops.convert_to_numpy(model.decode(model.encode(shown)))
        save_image_grid(
            np.concatenate([shown, reconstructions]),
            os.path.join(staging, "reconstructions.png"),
            columns=16,
            scale=3,
        )
        with open(os.path.join(staging, "metrics.json"), "w") as f:
            json.dump(metrics, f, indent=2)
