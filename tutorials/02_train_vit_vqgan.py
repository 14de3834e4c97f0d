# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Train a ViT-VQGAN tokenizer
#
# **Description:** train the tiny ViT-VQGAN on Fashion-MNIST with `fit`: the paper's loss
# terms, the delayed start of the discriminator, callbacks that watch codebook usage and
# reconstructions, saving the result as a preset, and resuming an interrupted run.
#
# The tokenizer of "Vector-quantized Image Modeling with Improved VQGAN" (Yu et al., ICLR 2022)
# is an autoencoder with a discrete bottleneck: a ViT encoder, a vector quantizer, a ViT
# decoder. It is trained to reconstruct its input through the codes, with a perceptual and an
# adversarial loss on top, so the reconstructions look sharp rather than blurry.
#
# The default setting (300 steps) takes a few minutes on a laptop CPU; a real tokenizer trains
# for far longer (the paper: 500k steps of 256 images). `KERAS_VIM_TUTORIAL_SMALL=1` runs a
# handful of steps (what CI runs).

# %%
import os

# Choose the backend before Keras is imported: "jax", "torch" or "tensorflow".
os.environ.setdefault("KERAS_BACKEND", "jax")

# %%
import tempfile

import keras
import numpy as np
from IPython import get_ipython
from IPython.display import Image, display

import keras_vim
from keras_vim.models import VitVQGAN

SMALL = os.environ.get("KERAS_VIM_TUTORIAL_SMALL") == "1"
BATCH_SIZE = 16 if SMALL else 64
STEPS_PER_EPOCH = 2 if SMALL else 50
EPOCHS = 3 if SMALL else 6
TOTAL_STEPS = STEPS_PER_EPOCH * EPOCHS
# The adversarial terms start for the last epoch (small) or the last 100 steps (default).
DISCRIMINATOR_START = TOTAL_STEPS - (STEPS_PER_EPOCH if SMALL else 100)
RESUME_STEPS = 1 if SMALL else 10  # steps per epoch of the resuming example
OUTPUT = os.environ.get("KERAS_VIM_TUTORIAL_OUTPUT") or tempfile.mkdtemp(prefix="tutorial_")
OUTPUT = os.path.join(OUTPUT, "02_train_vit_vqgan")
os.makedirs(OUTPUT, exist_ok=True)
print(f"backend {keras.backend.backend()}, small setting: {SMALL}, files in {OUTPUT}")
keras.utils.set_random_seed(0)


def show(path):
    """Shows a PNG inline in a notebook; prints its path when run as a plain script."""
    if get_ipython() is None:
        print(f"picture: {path}")
    else:
        display(Image(filename=path))


# %% [markdown]
# ## Data
#
# `load_dataset` builds a `tf.data` pipeline (used from every backend): shuffled, batched,
# repeated training images in [0, 1], padded to 32x32. Fixed test images serve to watch the
# training.

# %%
train, info = keras_vim.data.load_dataset(
    "fashion_mnist",
    batch_size=BATCH_SIZE,
    labels=False,
    repeat=True,
    drop_remainder=True,
    seed=0,
)
test_images, _ = keras_vim.data.load_fashion_mnist("test")
watch_images = test_images[:256].astype("float32") / 255.0  # one usage batch of 256
print(info, next(iter(train)).shape)

# %% [markdown]
# ## The model
#
# `vit_vqgan_tiny` is the paper's architecture at CPU size (random weights): 4x4 patches,
# two Transformer blocks of width 128 in the encoder and in the decoder, 512 codes. The
# quantizer uses the paper's two changes to the VQ layer: the encoder output is projected to
# a 16-dimensional lookup space (*factorized codes*), and latents and codes are l2-normalized,
# so the nearest code is the most similar in direction. Two extras, not in the paper, keep the
# codebook alive on small data: a LayerNorm after the patch embedding and the re-seeding of
# codes unused for a while ("dead-code restarts").
#
# The model also holds a StyleGAN2-style discriminator, used only for training.

# %%
model = VitVQGAN.from_preset("vit_vqgan_tiny")
before = keras_vim.metrics.tokenizer_report(model, watch_images)
print(f"{model.count_params():,} parameters (discriminator included)")
print(f"untrained: PSNR {before['psnr']:.1f} dB, codebook usage {before['codebook_usage']:.0%}")

# %% [markdown]
# ## The losses
#
# `compile` sets the paper's generator loss, each term with its own weight:
#
# - `l2_weight` (1.0): mean squared error of the reconstruction;
# - `logit_laplace_weight` (0.1 in the paper): the negative log-likelihood of the pixels under
#   the logit-Laplace distribution the decoder predicts. We switch it off: on short CPU runs it
#   pulls the decoder towards tiny predicted scales on the easy (black) pixels and away from the
#   L2 fit (the README's "Codebook usage": test MSE 0.0084 with it, 0.0048 without);
# - `perceptual_weight` (0.1 in the paper): distance of VGG16 features. It needs ImageNet
#   VGG16 weights, which keras_vim never downloads (pass `perceptual_network_weights=PATH`);
#   we switch it off, as the paper does for tokenizers meant for linear probes, since VGG has
#   seen ImageNet labels;
# - `adversarial_weight` (0.1): the non-saturating GAN loss of the discriminator's verdict;
# - `vq_weight` (1.0): the VQ loss, `||sg[z] - e||^2 + beta ||z - sg[e]||^2`, pulling codes
#   and encoder outputs together (beta = 0.25, a model argument).
#
# The discriminator has its own optimizer and is trained in the same step on its own loss
# (plus an optional R1 penalty, `r1_weight`). Both optimizers are AdamW with betas (0.9, 0.99)
# as in the paper, with warm-up and cosine decay; the learning rate is higher than the paper's
# 1e-4 because this run is short.
#
# **The discriminator start.** A discriminator facing the blurry output of an untrained
# decoder wins at once, and its gradients then wreck the reconstructions. So the adversarial
# terms are zero (no gradient reaches either network from them) until the generator has taken
# `discriminator_start` steps, when the reconstructions are already good.


# %%
def optimizer():
    return keras_vim.training.vit_vqgan_optimizer(
        total_steps=TOTAL_STEPS,
        warmup_steps=TOTAL_STEPS // 10,
        peak_learning_rate=1e-3,
        final_learning_rate=1e-4,
    )


model.compile(
    optimizer=optimizer(),
    discriminator_optimizer=optimizer(),
    l2_weight=1.0,
    logit_laplace_weight=0.0,
    perceptual_weight=0.0,
    adversarial_weight=0.1,
    vq_weight=1.0,
    discriminator_start=DISCRIMINATOR_START,
    r1_weight=0.0,
    dead_code_restart_steps=int(0.8 * TOTAL_STEPS),  # restarts only early in training
)

# %% [markdown]
# ## Watching usage and reconstructions
#
# The progress bar shows each loss term, the codebook usage and the perplexity of each
# training batch. A small callback adds what matters most for a tokenizer: at the end of every
# epoch it measures the paper's codebook usage and the PSNR on 256 fixed test images, and
# keeps the reconstructions of the first eight. A collapsing codebook (usage falling towards a
# few codes) or a discriminator that starts to hurt (PSNR falling after `discriminator_start`)
# shows up here first.


# %%
class WatchTokenizer(keras.callbacks.Callback):
    """Records codebook usage, PSNR and reconstructions of fixed images after each epoch."""

    def __init__(self, images, shown=8):
        super().__init__()
        self.images = images
        self.shown = shown
        self.rows = [images[:shown]]
        self.usage, self.psnr = [], []

    def on_epoch_end(self, epoch, logs=None):
        report = keras_vim.metrics.tokenizer_report(self.model, self.images)
        self.usage.append(report["codebook_usage"])
        self.psnr.append(report["psnr"])
        ids = self.model.encode(self.images[: self.shown])
        self.rows.append(keras.ops.convert_to_numpy(self.model.decode(ids)))
        print(f" - test usage {report['codebook_usage']:.0%}, PSNR {report['psnr']:.1f} dB")


watch = WatchTokenizer(watch_images)
history = model.fit(
    train,
    steps_per_epoch=STEPS_PER_EPOCH,
    epochs=EPOCHS,
    callbacks=[watch, keras.callbacks.CSVLogger(os.path.join(OUTPUT, "history.csv"))],
    verbose=2,
)

# %% [markdown]
# The first row holds the test images; each row below, the reconstructions after one more
# epoch.

# %%
path = keras_vim.utils.save_image_grid(
    np.concatenate(watch.rows), os.path.join(OUTPUT, "reconstructions.png"), columns=8, scale=3
)
show(path)

# %%
epochs = list(range(1, EPOCHS + 1))
path = keras_vim.utils.save_line_plot(
    os.path.join(OUTPUT, "usage.png"),
    epochs,
    {"test codebook usage": watch.usage},
    title="Codebook usage, 256 test images",
    x_label="epoch",
    y_label="share of the 512 codes",
)
show(path)
path = keras_vim.utils.save_line_plot(
    os.path.join(OUTPUT, "psnr.png"),
    epochs,
    {"test PSNR": watch.psnr},
    title="Reconstruction PSNR (dB), 256 test images",
    x_label="epoch",
    y_label="dB",
)
show(path)

# %% [markdown]
# The losses per epoch. The discriminator's loss and the generator's adversarial term are 0
# until `discriminator_start`; from then on the discriminator learns to tell reconstructions
# from images and the generator pays 0.1 times the non-saturating loss for being caught.

# %%
columns = ["loss", "l2", "vq", "generator_adversarial", "discriminator_loss"]
print("epoch " + " ".join(f"{name:>21}" for name in columns))
for epoch in range(EPOCHS):
    values = " ".join(f"{history.history[name][epoch]:21.4f}" for name in columns)
    print(f"{epoch + 1:5d} {values}")
print(
    f"adversarial terms from step {DISCRIMINATOR_START} (epoch "
    f"{DISCRIMINATOR_START // STEPS_PER_EPOCH + 1})"
)

# %% [markdown]
# ## Saving a preset
#
# `save_to_preset` writes a directory in the keras-hub layout: `config.json`,
# `model.weights.h5` (what `encode`/`decode` need), the discriminator in its own file (so
# adversarial training can go on from the preset), `metadata.json` and a `README.md` model
# card, to which you can add your own notes. `from_preset` loads it back on any backend.

# %%
preset_dir = os.path.join(OUTPUT, "my_tokenizer")
model.save_to_preset(
    preset_dir,
    model_card=f"## Training\n\n{TOTAL_STEPS} steps of batch {BATCH_SIZE} on Fashion-MNIST "
    f"(tutorial 2). Test PSNR {watch.psnr[-1]:.1f} dB, usage {watch.usage[-1]:.0%}.",
)
print(sorted(os.listdir(preset_dir)))
reloaded = VitVQGAN.from_preset(preset_dir)
same = np.array_equal(
    keras.ops.convert_to_numpy(reloaded.encode(watch_images[:32])),
    keras.ops.convert_to_numpy(model.encode(watch_images[:32])),
)
print("the reloaded tokenizer gives the same tokens:", same)

# %% [markdown]
# ## Interrupted runs: checkpoint and resume
#
# Real tokenizer runs last days. `keras_vim.training.fit_resumable` is `fit` plus a checkpoint
# at the end of every epoch (Keras' `BackupAndRestore`: weights, both optimizers' state, the
# step counter that drives the learning rate and the discriminator start). Run the same call
# again after a crash and it continues from the last finished epoch, skipping the batches the
# finished epochs already used, so it ends where an uninterrupted run would.
#
# Here we continue training for two more epochs and simulate a crash after the first: a
# callback raises an exception once the epoch has been checkpointed. Calling `fit_resumable`
# again (after a real crash: running the same script again) runs only the missing epoch.


# %%
class Crash(Exception):
    pass


class CrashAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise Crash("simulated crash")


backup_dir = os.path.join(OUTPUT, "checkpoint")
more = dict(epochs=2, steps_per_epoch=RESUME_STEPS, backup_dir=backup_dir, verbose=2)
start_step = int(model.optimizer.iterations)
try:
    keras_vim.training.fit_resumable(model, train, callbacks=[CrashAfterFirstEpoch()], **more)
except Crash:
    done = keras_vim.training.completed_epochs(backup_dir)
    print(f"crashed at step {int(model.optimizer.iterations)}; the checkpoint holds {done} epoch")

resumed = keras_vim.training.fit_resumable(model, train, **more)
print(
    f"the second call ran epoch(s) {[e + 1 for e in resumed.epoch]}; steps "
    f"{start_step} -> {int(model.optimizer.iterations)} (2 epochs of {RESUME_STEPS})"
)

# %% [markdown]
# ## Next
#
# `recipes/train_vit_vqgan.py` is this tutorial as a command-line script (data flags, longer
# runs, several devices). Tutorial 3 uses a tokenizer trained like this one, only longer (the
# shipped `vit_vqgan_tiny_fashion_mnist`), to train the VIM prior.
