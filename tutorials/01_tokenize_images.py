# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Tokenize images with a trained ViT-VQGAN
#
# **Description:** load the shipped `vit_vqgan_tiny_fashion_mnist` tokenizer, turn images into
# grids of discrete tokens and back, look at the token grid, the reconstructions and how much
# of the codebook the images use.
#
# ViT-VQGAN is stage 1 of "Vector-quantized Image Modeling with Improved VQGAN" (Yu et al.,
# ICLR 2022). It cuts an image into patches, runs a Vision Transformer over them and replaces
# each patch's output by the nearest of a fixed set of learned vectors, the *codebook*. What
# is left of the image is one integer per patch: a token. Stage 2 (VIM, tutorial 3) models
# those tokens like words of a sentence.
#
# Runs in a few minutes on a laptop CPU. `KERAS_VIM_TUTORIAL_SMALL=1` makes it smaller still
# (what CI runs).

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
# How many test images measure the codebook usage (the paper: the whole test set).
EVAL_IMAGES = 256 if SMALL else 2048
OUTPUT = os.environ.get("KERAS_VIM_TUTORIAL_OUTPUT") or tempfile.mkdtemp(prefix="tutorial_")
OUTPUT = os.path.join(OUTPUT, "01_tokenize_images")
os.makedirs(OUTPUT, exist_ok=True)
print(f"backend {keras.backend.backend()}, small setting: {SMALL}, pictures in {OUTPUT}")


def show(path):
    """Shows a PNG inline in a notebook; prints its path when run as a plain script."""
    if get_ipython() is None:
        print(f"picture: {path}")
    else:
        display(Image(filename=path))


# %% [markdown]
# ## Load the tokenizer
#
# `from_preset` takes a built-in name or a preset directory. This one ships inside the package
# with trained weights (no download); its model card, `README.md` beside the weights in
# `keras_vim/presets/vit_vqgan_tiny_fashion_mnist/`, says how it was trained and what it
# scores. It is a scaled-down ViT-VQGAN for 32x32 grayscale images: patches of 4x4 pixels, so
# an 8x8 grid of tokens, and a codebook of 512 codes.

# %%
tokenizer = VitVQGAN.from_preset("vit_vqgan_tiny_fashion_mnist")
print(
    f"{tokenizer.count_params():,} parameters; images {tokenizer.image_size} x "
    f"{tokenizer.channels} -> a {tokenizer.grid_size} grid of ids in [0, {tokenizer.num_codes})"
)
print(
    f"encoder: {tokenizer.encoder_num_layers} Transformer blocks of width "
    f"{tokenizer.encoder_hidden_dim}; codes of dimension {tokenizer.code_dim}"
)

# %% [markdown]
# ## Some test images
#
# The default data is Fashion-MNIST padded to 32x32. `load_fashion_mnist` reads the full
# dataset when it is installed (e.g. Debian's `dataset-fashion-mnist`) and otherwise the
# class-balanced subset shipped with the package. Images are uint8 or floats in [0, 1]; we
# take the first image of each of the 10 classes.

# %%
test_images, test_labels = keras_vim.data.load_fashion_mnist("test")
first_of_class = [int(np.flatnonzero(test_labels == c)[0]) for c in range(10)]
images = test_images[first_of_class].astype("float32") / 255.0
print(images.shape, ", ".join(keras_vim.data.CLASS_NAMES))

# %% [markdown]
# ## Images to tokens
#
# `encode` runs the encoder, projects each patch's output down to the small lookup space (the
# paper's *factorized codes*: here 16 dimensions instead of 128), l2-normalizes it and picks
# the code of highest cosine similarity. The result is an integer grid per image.

# %%
ids = keras.ops.convert_to_numpy(tokenizer.encode(images))
print(ids.shape, ids.dtype)
print("the token grid of the first image (a T-shirt):")
print(ids[0])

# %% [markdown]
# Colouring each code with its own random colour shows the grids as pictures (top: the
# images; bottom: their tokens, each cell covering a 4x4 patch). The black background is not
# one code: the encoder is a Transformer that sees the whole image and where each patch sits,
# so a token describes a patch *in its context*, and identical black patches at different
# places get different codes.

# %%
palette = np.random.default_rng(0).uniform(0.15, 1.0, (tokenizer.num_codes, 3))
patch = tokenizer.patch_size
token_maps = palette[ids].repeat(patch, axis=1).repeat(patch, axis=2)  # (10, 32, 32, 3)
path = keras_vim.utils.save_image_grid(
    np.concatenate([images.repeat(3, axis=-1), token_maps]),
    os.path.join(OUTPUT, "token_grids.png"),
    columns=10,
    scale=3,
)
show(path)
h, w = tokenizer.grid_size
patches = images.reshape(len(images), h, patch, w, patch).max(axis=(2, 4))
black = patches == 0.0  # patches without a single lit pixel
print(
    f"{len(np.unique(ids))} different codes among the {ids.size} tokens of these images; "
    f"{black.sum()} all-black patches use {len(np.unique(ids[black]))} different codes"
)

# %% [markdown]
# ## Tokens back to images
#
# `decode` looks the codes up, runs the decoder Transformer and predicts, per pixel, the
# location and scale of a *logit-Laplace* distribution (the paper's loss for pixel values in
# [0, 1]); the image is the sigmoid of the location. 64 integers per image are all the decoder
# gets, so fine texture is lost, but shapes and shading survive. Top row: the test images;
# bottom row: their reconstructions.

# %%
reconstructions = keras.ops.convert_to_numpy(tokenizer.decode(ids))
psnr = keras.ops.convert_to_numpy(keras_vim.metrics.psnr(images, reconstructions))
print("PSNR per image (dB):", np.round(psnr, 1))
path = keras_vim.utils.save_image_grid(
    np.concatenate([images, reconstructions]),
    os.path.join(OUTPUT, "reconstructions.png"),
    columns=10,
    scale=3,
)
show(path)

# %% [markdown]
# ## Editing in token space
#
# A token grid can be edited like an array. Here the top half of each grid (top row) is kept
# and the bottom half comes from the next image (middle row); the decoder turns the spliced
# grids into the bottom row. The seams show that tokens are not position-free stamps of patch
# content: each was chosen in the context of its own image, and the decoder, which also
# attends over the whole grid, reads them in the context of the new one.

# %%
spliced = ids.copy()
half = tokenizer.grid_size[0] // 2
spliced[:, half:] = np.roll(ids, -1, axis=0)[:, half:]
mixed = keras.ops.convert_to_numpy(tokenizer.decode(spliced))
path = keras_vim.utils.save_image_grid(
    np.concatenate([images, np.roll(images, -1, axis=0), mixed]),
    os.path.join(OUTPUT, "spliced.png"),
    columns=10,
    scale=3,
)
show(path)

# %% [markdown]
# ## Codebook usage
#
# A VQ tokenizer is only as expressive as the codes it actually uses. With the usual VQGAN
# recipe many codes are never chosen ("dead"), wasting capacity. The paper fixes this with its
# two quantizer changes, the low-dimensional factorized lookup and the l2-normalized codes, and
# measures *codebook usage*: the share of the codebook used by a batch of 256 test images,
# averaged over the test set (paper Table 4: 96% for their choice, 4% for a 256-d lookup).
#
# `keras_vim.metrics.evaluate_tokenizer` streams a dataset through `encode` and `decode` and
# reports reconstruction quality (L1, L2, PSNR, SSIM, the logit-Laplace NLL) together with
# the codebook statistics: the paper's usage, the share of codes used anywhere in the data,
# the dead codes and the perplexity of the code histogram (how many codes are in effective
# use).

# %%
test, _ = keras_vim.data.load_dataset(
    "fashion_mnist", split="test", batch_size=256, labels=False, shuffle=False
)
report = keras_vim.metrics.evaluate_tokenizer(tokenizer, test, max_images=EVAL_IMAGES)
for name in (
    "images",
    "l2",
    "psnr",
    "ssim",
    "codebook_usage",
    "codebook_usage_total",
    "dead_codes",
    "perplexity",
):
    print(f"{name:>22}: {report[name]:.4g}")

# %% [markdown]
# How often is each code used? Sorting the codes from the most to the least used gives a
# rank-frequency curve: a few codes (the background, plain fabric) are very common, and most
# of the codebook is used a little. A collapsed codebook would show a handful of bars and
# nothing else.

# %%
all_ids = keras.ops.convert_to_numpy(
    tokenizer.encode(test_images[:EVAL_IMAGES].astype("float32") / 255.0)
)
frequency = np.bincount(all_ids.reshape(-1), minlength=tokenizer.num_codes)
frequency = np.sort(frequency)[::-1] / all_ids.size
path = keras_vim.utils.save_bar_chart(
    os.path.join(OUTPUT, "code_frequency.png"),
    frequency,
    title=f"Code frequency over {len(all_ids)} test images (sorted)",
    x_label="code rank",
    y_label="share of tokens",
)
show(path)
print(
    f"most used code: {frequency[0]:.1%} of all tokens; "
    f"{np.count_nonzero(frequency)} of {tokenizer.num_codes} codes used"
)

# %% [markdown]
# ## Next
#
# Tutorial 2 trains such a tokenizer from scratch; tutorial 3 trains the VIM prior on its
# tokens and samples new images.
