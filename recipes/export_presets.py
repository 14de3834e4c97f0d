"""Turn a finished `recipes/train_vim.py` run into the trained presets shipped with keras_vim.

Reads the run's tokenizer (`RUN/tokenizer/model.keras`) and prior (`RUN/model.keras`), scores
them on the test images that ship inside the package (`keras_vim.presets.score_tokenizer` /
`score_prior`) and writes one preset directory per model: config, weights (the tokenizer's
discriminator in its own file), metadata, `scores.json` and a model card that states how the
model was trained (from the run's metrics.json) and what it scores.

    KERAS_BACKEND=jax python recipes/train_vim.py --tokenizer-steps 600 --steps 800 \
        --steps-per-epoch 100 --max-train-images 30000 --output runs/preset_train
    KERAS_BACKEND=jax python recipes/export_presets.py --run runs/preset_train

A run whose prior was trained over the shipped tokenizer (`train_vim.py --tokenizer
keras_vim/presets/vit_vqgan_tiny_fashion_mnist ...`) re-exports the prior alone:

    KERAS_BACKEND=jax python recipes/export_presets.py --run runs/prior_train \
        --tokenizer keras_vim/presets/vit_vqgan_tiny_fashion_mnist
"""

import argparse
import json
import os

import keras

from keras_vim.models import VQGANBase
from keras_vim.models.preset_mixin import PACKAGED_PRESETS_DIR
from keras_vim.pipelines import load_model
from keras_vim.presets import score_prior, score_tokenizer

TOKENIZER_NAME = "vit_vqgan_tiny_fashion_mnist"
PRIOR_NAME = "vim_tiny_fashion_mnist"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default="runs/preset_train", help="A train_vim.py output dir.")
    parser.add_argument("--output", default=PACKAGED_PRESETS_DIR, help="Where presets go.")
    parser.add_argument("--command", default=None, help="The training command, for the cards.")
    parser.add_argument(
        "--tokenizer",
        default=None,
        help="The tokenizer preset the run's prior was trained over (train_vim.py "
        "--tokenizer): only the prior is exported, the tokenizer is left as it is.",
    )
    return parser.parse_args(argv)


def tokenizer_settings(run):
    """`(batch_size, logit_laplace_weight)` of the run's tokenizer; runs made before these were
    recorded trained at batch 64 with the paper's 0.1."""
    batch = run["tokenizer"].get("batch_size")
    logit_laplace = run["tokenizer"].get("logit_laplace_weight")
    return 64 if batch is None else batch, 0.1 if logit_laplace is None else logit_laplace


def tokenizer_card(run, command, scores, num_codes):
    test = run["tokenizer"]["test"]
    steps = run["tokenizer"]["steps"]
    batch, logit_laplace = tokenizer_settings(run)
    loss = f"L2 + {logit_laplace:g} logit-Laplace + VQ" if logit_laplace else "L2 + VQ"
    return f"""## Training

Trained by `recipes/train_vim.py` (stage 1, `recipes/train_vit_vqgan.py` with the
`vit_vqgan_tiny` architecture) on the 60000 Fashion-MNIST training images (Debian's
`dataset-fashion-mnist`), padded to 32x32, backend {run["backend"]}:

    {command}

{steps} steps of batch {batch}, AdamW (0.9, 0.99), peak learning rate 1e-3 with warm-up and
cosine decay, loss {loss} (beta 0.25). No perceptual term (no VGG16 weights offline) and no
adversarial phase (too few steps for it to help); the discriminator weights are its initial
ones, kept so adversarial training can resume.

## Scores

On {scores["data"]} (`keras_vim.presets.score_tokenizer`, reproduced by the tests on every
backend): L2 {scores["l2"]:.4f}, PSNR {scores["psnr"]:.2f} dB, SSIM {scores["ssim"]:.3f},
codebook usage {scores["codebook_usage"]:.1%} of {num_codes} codes per batch of 256 images
(the paper's definition), {scores["dead_codes"]} codes never used.

At the end of training, on the first 256 images of the full test split: L2 {test["l2"]:.4f},
PSNR {test["psnr"]:.2f} dB, usage {test["codebook_usage"]:.1%}.
"""


def prior_card(run, command, scores):
    logs = run["final_logs"]
    config = run["prior"]["config"]
    return f"""## Training

Trained by `recipes/train_vim.py` (stage 2) on the token grids of the first
{run["train_images"]} Fashion-MNIST training images (Debian's `dataset-fashion-mnist`),
tokenized by `{TOKENIZER_NAME}`, backend {run["backend"]}:

    {command}

`vim_tiny` architecture ({config["num_layers"]} blocks of width {config["hidden_dim"]},
{run["prior"]["parameters"]:,} parameters), class-conditional over
{config["num_classes"]} classes with class dropout {config["class_dropout"]} (classifier-free
guidance), {run["steps"]} steps of batch {run["batch_size"]}, Adam (0.9, 0.96), peak learning rate
{run["learning_rate"]} with warm-up and decay, {run["train_seconds"]:.0f} s of training.

Use it with the `{TOKENIZER_NAME}` tokenizer:

```python
tokenizer = keras_vim.models.VitVQGAN.from_preset("{TOKENIZER_NAME}")
prior = keras_vim.models.VIM.from_preset("{PRIOR_NAME}")
images = prior.generate_images(
    tokenizer, class_ids=[0, 1, 2], temperature=0.8, guidance_scale=2.0, seed=0
)
```

## Scores

On {scores["data"]}, tokenized by `{TOKENIZER_NAME}` (`keras_vim.presets.score_prior`,
reproduced by the tests on every backend): {scores["bits_per_token"]:.3f} bits per token,
next-token accuracy {scores["accuracy"]:.1%}.

At the end of training (500 images of the full test split): validation
{logs.get("val_bits_per_token")} bits per token, accuracy {logs.get("val_accuracy")}.
"""


def export(model, name, directory, card, scores):
    path = os.path.join(directory, name)
    model.save_to_preset(path, model_card=card)
    with open(os.path.join(path, "scores.json"), "w") as f:
        json.dump(scores, f, indent=2)
    print(f"wrote {path}: {json.dumps(scores)}", flush=True)
    return path


def main(argv=None):
    args = parse_args(argv)
    with open(os.path.join(args.run, "metrics.json")) as f:
        run = json.load(f)
    stage1 = (
        f"--tokenizer {args.tokenizer}"
        if args.tokenizer
        else f"--tokenizer-steps {run['tokenizer']['steps']} "
        f"--tokenizer-batch-size {tokenizer_settings(run)[0]}"
    )
    command = args.command or (
        f"KERAS_BACKEND={run['backend']} python recipes/train_vim.py {stage1} "
        f"--steps {run['steps']} --max-train-images {run['train_images']} --output {args.run}"
    )
    prior = keras.saving.load_model(os.path.join(args.run, "model.keras"))
    prior.name = PRIOR_NAME
    if args.tokenizer:
        tokenizer = load_model(VQGANBase, args.tokenizer)  # as train_vim.py --tokenizer
    else:
        tokenizer = keras.saving.load_model(os.path.join(args.run, "tokenizer", "model.keras"))
        tokenizer.name = TOKENIZER_NAME
        scores = score_tokenizer(tokenizer)
        export(
            tokenizer,
            TOKENIZER_NAME,
            args.output,
            tokenizer_card(run, command, scores, tokenizer.num_codes),
            scores,
        )
    scores = score_prior(prior, tokenizer)
    export(prior, PRIOR_NAME, args.output, prior_card(run, command, scores), scores)


if __name__ == "__main__":
    main()
