"""One training step of the micro tokenizer (GAN step included) or a tiny prior, on one device
or under a distribution, from the same initial weights; each run is made once per process and
shared by the tests (every compiled step costs seconds)."""

import keras
import numpy as np

from keras_vim.distribution import configure
from keras_vim.models import VIM, VitVQGAN

BACKEND = keras.backend.backend()
KINDS = ["data", "model"] if BACKEND == "jax" else ["data"]
MODEL_MESH = (2, 4)
BATCH = 8
MODELS = {"tokenizer": VitVQGAN, "prior": VIM}
PRIOR_CONFIG = dict(
    vocabulary_size=32,
    grid_size=4,
    num_layers=1,
    num_heads=4,
    hidden_dim=16,
    mlp_dim=32,
    num_classes=3,
    dropout=0.0,
)

_runs = {}  # (model name, kind) -> Run; each compiled step is traced once per process


class Run:
    def __init__(self, setup, model, logs, initial):
        self.setup, self.model, self.logs, self.initial = setup, model, logs, initial


def batch_data(name):
    rng = np.random.default_rng(1)
    if name == "tokenizer":
        return (rng.random((BATCH, 16, 16, 1)).astype("float32"),)
    return rng.integers(0, 32, (BATCH, 4, 4)).astype("int32"), np.arange(BATCH) % 3


def _build(name, config):
    if name == "tokenizer":
        model = VitVQGAN(**config)
        if BACKEND == "tensorflow":
            # Each TensorFlow replica computes the minibatch-stddev feature over its own part of
            # the batch (as StyleGAN2 does per GPU); group size 1 makes it batch-independent so
            # the step can be compared with one device. JAX's DataParallel sees the whole batch.
            model.discriminator.mbstd_group_size = 1
        return model
    return VIM(**PRIOR_CONFIG)


def _compile(name, model):
    def sgd():  # linear in the gradients, with optimizer state (the momentum)
        return keras.optimizers.SGD(0.1, momentum=0.9)

    if name == "tokenizer":
        model.compile(
            optimizer=sgd(),
            discriminator_optimizer=sgd(),
            perceptual_weight=0.0,
            discriminator_start=0,
        )
    else:
        model.compile(optimizer=sgd())


def _setup(name, kind):
    if kind == "none":
        return configure("none", activate=False)
    mesh = MODEL_MESH if kind == "model" else None
    return configure(kind, MODELS[name], mesh_shape=mesh, batch_size=BATCH, activate=False)


def run(name, kind, config):
    """The model of `name` after one step of `fit` under `kind`, from the same weights."""
    if (name, kind) not in _runs:
        if (name, "initial") not in _runs:
            keras.utils.set_random_seed(0)
            _runs[(name, "initial")] = _build(name, config).get_weights()
        initial = _runs[(name, "initial")]
        setup = _setup(name, kind)
        with setup.scope():
            model = _build(name, config)
            model.set_weights(initial)
            _compile(name, model)
            history = model.fit(
                *batch_data(name), batch_size=BATCH, epochs=1, shuffle=False, verbose=0
            )
        logs = {key: values[-1] for key, values in history.history.items()}
        _runs[(name, kind)] = Run(setup, model, logs, initial)
    return _runs[(name, kind)]
