# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Train the VIM prior and sample images
#
# **Description:** tokenize a dataset once with the shipped tokenizer, train a VIM prior on
# the token grids with `fit`, then sample: unconditionally and per class, with temperature,
# top-k, top-p and classifier-free guidance side by side, and with rejection sampling.
#
# Stage 2 of "Vector-quantized Image Modeling with Improved VQGAN" (Yu et al., ICLR 2022) is
# VIM, a decoder-only Transformer that reads an image's tokens in raster order (left to right,
# top to bottom) and predicts each next token, exactly like a language model predicts the next
# word. Sampling it token by token and decoding the grid with the tokenizer draws new images.
#
# The teaching run trains a prior for a few hundred steps (a few minutes on a laptop CPU); the
# good-looking samples come from the shipped, longer-trained `vim_tiny_fashion_mnist`.
# `KERAS_VIM_TUTORIAL_SMALL=1` shortens everything (what CI runs).

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
from keras_vim.models import VIM, VitVQGAN

SMALL = os.environ.get("KERAS_VIM_TUTORIAL_SMALL") == "1"
TRAIN_IMAGES = 1024 if SMALL else 12000  # the 60k training images take a few minutes more
VALIDATION_IMAGES = 256 if SMALL else 500
BATCH_SIZE = 32 if SMALL else 64
STEPS_PER_EPOCH = 5 if SMALL else 50
EPOCHS = 2 if SMALL else 6
PER_CLASS = 2 if SMALL else 10  # samples per class when comparing sampling settings
OUTPUT = os.environ.get("KERAS_VIM_TUTORIAL_OUTPUT") or tempfile.mkdtemp(prefix="tutorial_")
OUTPUT = os.path.join(OUTPUT, "03_train_vim_and_sample")
os.makedirs(OUTPUT, exist_ok=True)
print(f"backend {keras.backend.backend()}, small setting: {SMALL}, files in {OUTPUT}")
keras.utils.set_random_seed(0)
CLASS_NAMES = keras_vim.data.CLASS_NAMES


def show(path):
    """Shows a PNG inline in a notebook; prints its path when run as a plain script."""
    if get_ipython() is None:
        print(f"picture: {path}")
    else:
        display(Image(filename=path))


def save_grid(images, name, columns):
    return keras_vim.utils.save_image_grid(
        keras.ops.convert_to_numpy(images), os.path.join(OUTPUT, name), columns=columns, scale=3
    )


# %% [markdown]
# ## Tokenize the dataset once
#
# The prior never sees pixels: it learns from token grids. The tokenizer is frozen during
# stage 2, so the grids are computed once and cached. `tokenize_dataset` encodes a `tf.data`
# dataset of `(images, labels)` batches and writes the ids, the labels and a fingerprint of the
# tokenizer to an `.npz` file; a second call with the same tokenizer and data key reads the
# file instead (a different tokenizer makes it recompute).

# %%
tokenizer = VitVQGAN.from_preset("vit_vqgan_tiny_fashion_mnist")


def tokenize(split, count):
    data, _ = keras_vim.data.load_dataset("fashion_mnist", split, batch_size=256, shuffle=False)
    data = data.unbatch().take(count).batch(256)
    return keras_vim.data.tokenize_dataset(
        tokenizer,
        data,
        cache_path=os.path.join(OUTPUT, f"tokens_{split}.npz"),
        key=f"fashion_mnist/{split}/{count}",
    )


train_ids, train_labels = tokenize("train", TRAIN_IMAGES)
test_ids, test_labels = tokenize("test", VALIDATION_IMAGES)
train_ids, train_labels = tokenize("train", TRAIN_IMAGES)  # again: read from the cache
print(train_ids.shape, train_ids.dtype, "labels", train_labels[:10])

# %% [markdown]
# ## The prior
#
# `vim_tiny` is VIM at CPU size: 3 Transformer blocks of width 96 over sequences of
# 1 + 64 tokens. The first slot holds the class id (its own embedding table): the paper's
# class-conditional model. Every token gets a learned token embedding plus a learned 2D
# position embedding, attention is causal, and a final LayerNorm and a dense layer give
# logits over the 512 codes.
#
# With `class_dropout=0.1`, one training example in ten has its class replaced by a "null"
# class, so the same network also learns the unconditional distribution. That enables
# classifier-free guidance below (not in the paper) and unconditional sampling.

# %%
prior = VIM.from_preset(
    "vim_tiny",
    vocabulary_size=tokenizer.num_codes,
    grid_size=tokenizer.grid_size,
    num_classes=len(CLASS_NAMES),
    seed=0,
)
print(
    f"{prior.count_params():,} parameters, sequence of {prior.sequence_length} tokens "
    f"after the class token, null class id {prior.null_class_id}"
)

# %% [markdown]
# ## Train it
#
# The loss is next-token cross-entropy (built in: `compile` takes only the optimizer).
# `bits_per_token` is the same loss in bits: a prior that knew nothing would need
# log2(512) = 9 bits per token; every bit less is structure it has learned. The optimizer is
# the paper's Adam (0.9, 0.96) with warm-up and exponential decay, sized to this short run.

# %%
total_steps = STEPS_PER_EPOCH * EPOCHS
prior.compile(
    optimizer=keras_vim.training.vim_optimizer(
        total_steps=total_steps,
        warmup_steps=total_steps // 20,
        peak_learning_rate=3e-3,
        final_learning_rate=3e-4,
        decay_start=total_steps // 20,
    )
)
train_tokens = keras_vim.data.token_dataset(
    train_ids, train_labels, batch_size=BATCH_SIZE, repeat=True, drop_remainder=True
)
test_tokens = keras_vim.data.token_dataset(
    test_ids, test_labels, batch_size=VALIDATION_IMAGES, shuffle=False
)
history = prior.fit(
    train_tokens,
    steps_per_epoch=STEPS_PER_EPOCH,
    epochs=EPOCHS,
    validation_data=test_tokens,
    verbose=2,
)
print(
    f"validation: {history.history['val_bits_per_token'][-1]:.2f} bits per token, "
    f"next-token accuracy {history.history['val_accuracy'][-1]:.0%}"
)

# %% [markdown]
# Sampling runs the model one position at a time with a key/value cache; `generate_images`
# decodes the sampled grids with the tokenizer. After this short training the samples show
# blobs of roughly the right brightness and place, and not much more (one row per class).

# %%
class_ids = np.repeat(np.arange(len(CLASS_NAMES)), PER_CLASS)
show(
    save_grid(prior.generate_images(tokenizer, class_ids=class_ids, seed=0), "ours.png", PER_CLASS)
)

# %% [markdown]
# ## A trained prior
#
# `vim_tiny_fashion_mnist` is the same architecture trained for 3000 steps on all 60k
# tokenized images (its model card: `keras_vim/presets/vim_tiny_fashion_mnist/README.md`).
# Per class, at the paper's sampling setting (temperature 1.0, no filtering), one row per class:

# %%
prior = VIM.from_preset("vim_tiny_fashion_mnist")
print(", ".join(f"{i}: {name}" for i, name in enumerate(CLASS_NAMES)))
per_class = prior.generate_images(tokenizer, class_ids=class_ids, temperature=1.0, seed=0)
show(save_grid(per_class, "per_class.png", PER_CLASS))

# %% [markdown]
# **Unconditionally.** Asking for the null class samples the unconditional distribution the
# prior learned through class dropout: any kind of garment.

# %%
unconditional = prior.generate_images(
    tokenizer, class_ids=np.full(len(class_ids), prior.null_class_id), temperature=1.0, seed=1
)
show(save_grid(unconditional, "unconditional.png", PER_CLASS * 2))

# %% [markdown]
# ## Sampling settings side by side
#
# The paper samples at temperature 1.0 without filtering. Common knobs trade diversity for
# fidelity:
#
# - **temperature** divides the logits: below 1 sharpens the distribution (safer, less
#   varied samples), above 1 flattens it;
# - **top-k** keeps only the k most likely codes at each step;
# - **top-p** (nucleus) keeps the smallest set of codes whose probability adds up to p;
# - **classifier-free guidance** mixes the class-conditional and the unconditional logits,
#   `uncond + s * (cond - uncond)`; s > 1 pushes samples towards what distinguishes the class.
#
# Each row below holds one sample per class (T-shirt/top ... Ankle boot) for one setting. The
# shipped Fashion-MNIST classifier (`keras_vim.metrics.load_domain_classifier()`, 92% test
# accuracy) scores all samples of a setting: *class accuracy* (does the classifier see the
# class that was asked for?) and the domain *Inception Score* (confident and varied: at most
# 10; computed in one split, as there are few samples). They are the offline stand-ins for
# the paper's FID and IS on this data.

# %%
classifier = keras_vim.metrics.load_domain_classifier()
settings = {
    "temperature 1.0 (paper)": dict(temperature=1.0),
    "temperature 0.7": dict(temperature=0.7),
    "top-k 32": dict(temperature=1.0, top_k=32),
    "top-p 0.8": dict(temperature=1.0, top_p=0.8),
    "guidance 2": dict(temperature=1.0, guidance_scale=2.0),
    "guidance 2, temperature 0.8": dict(temperature=0.8, guidance_scale=2.0),
}
rows, scores = [], {}
for name, setting in settings.items():
    images = keras.ops.convert_to_numpy(
        prior.generate_images(tokenizer, class_ids=class_ids, seed=2, **setting)
    )
    rows.append(images[::PER_CLASS])  # the first sample of each class
    accuracy = keras_vim.metrics.class_accuracy(images, class_ids, classifier)
    score, _ = keras_vim.metrics.domain_inception_score(images, classifier, splits=1)
    scores[name] = (accuracy, score)
    print(f"{name:>28}: class accuracy {accuracy:.0%}, Inception Score {score:.2f}")
show(save_grid(np.concatenate(rows), "settings.png", len(CLASS_NAMES)))

# %% [markdown]
# ## Rejection sampling
#
# The paper's Table 6 improves FID and IS by rejection sampling with a classifier: draw more
# samples than needed and keep the ones a classifier finds most convincing (ImageNet: FID
# 4.17 -> 3.04 at acceptance rate 0.5). `prior.rejection_sample` draws `1 / acceptance_rate`
# candidates for each requested image and keeps, per class, those to which the classifier
# gives the highest probability of that class. It returns the images, their token ids and
# scores, and the acceptance rate it achieved.

# %%
result = prior.rejection_sample(
    tokenizer,
    classifier,
    acceptance_rate=0.25,
    class_ids=class_ids,
    batch_size=len(class_ids),  # the batch of the comparison above: no new compilation
    temperature=1.0,
    seed=3,
)
kept = result["images"]
accuracy = keras_vim.metrics.class_accuracy(kept, class_ids, classifier)
score, _ = keras_vim.metrics.domain_inception_score(kept, classifier, splits=1)
print(
    f"kept {len(kept)} of {result['num_candidates']} candidates (acceptance rate "
    f"{result['acceptance_rate']:.2f}); mean classifier score {result['scores'].mean():.2f} "
    f"vs {result['candidate_scores'].mean():.2f} over all candidates"
)
plain_accuracy, plain_score = scores["temperature 1.0 (paper)"]
print(
    f"class accuracy {plain_accuracy:.0%} -> {accuracy:.0%}, "
    f"Inception Score {plain_score:.2f} -> {score:.2f}"
)
show(save_grid(kept, "rejection_sampled.png", PER_CLASS))

# %% [markdown]
# Rejection sampling buys its gains with compute (here 4 draws per kept image) and with a
# classifier trained on the same data, which can favour the samples it finds typical. The
# Fashion-MNIST classifier here is small and trained offline by
# `recipes/train_classifier.py`.
#
# ## Next
#
# `recipes/train_vim.py` runs both stages from the command line; `recipes/evaluate.py`
# measures tokenizers and priors with these metrics. Tutorial 4 looks inside the trained prior
# with linear probes.
