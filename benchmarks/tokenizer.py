"""Tokenizer: keras_vim's `VitVQGAN` vs parti-pytorch's `VitVQGanVAE`.

64x64x3 images, patch 8, width 256, 4 encoder + 4 decoder blocks of 4 heads (MLP 1024), 1024
codes of dimension 32, batch 16: encode to ids, decode from ids, one reconstruction + VQ
training step, and one full GAN step (perceptual + adversarial terms from step 0, both
networks updated), in images per second.

parti-pytorch's own loss without the GAN omits the commitment term and its decode-from-ids
helper is broken, so its encoder, quantizer and decoder are timed directly (see
`peer_case`).

    KERAS_BACKEND=jax python -m benchmarks.tokenizer [--repeats 5]
"""

import argparse

import keras
import numpy as np

from benchmarks.timing import (
    Case,
    best_torch_threads,
    compare,
    environment,
    median,
    paired_speedup,
    write_json,
)

IMAGE, PATCH, WIDTH, LAYERS, HEADS, MLP, CODES, CODE_DIM, BATCH = (
    64,
    8,
    256,
    4,
    4,
    1024,
    1024,
    32,
    16,
)
LEARNING_RATE = 1e-4


def images():
    return np.random.default_rng(0).random((BATCH, IMAGE, IMAGE, 3), dtype=np.float32)


def keras_vim_tokenizer():
    from keras_vim.models import VitVQGAN

    size = {"hidden_dim": WIDTH, "num_layers": LAYERS, "num_heads": HEADS, "mlp_dim": MLP}
    return VitVQGAN(
        image_size=IMAGE,
        channels=3,
        patch_size=PATCH,
        num_codes=CODES,
        code_dim=CODE_DIM,
        **{f"encoder_{k}": v for k, v in size.items()},
        **{f"decoder_{k}": v for k, v in size.items()},
    )


def keras_vim_case(mode):
    """keras_vim's public API: `encode`, `decode`, and `train_on_batch` after `compile`."""
    model = keras_vim_tokenizer()
    x = keras.ops.convert_to_tensor(images())
    if mode == "encode":
        return Case(lambda: model.encode(x), BATCH, "images")
    if mode == "decode":
        ids = model.encode(x)
        return Case(lambda: model.decode(ids), BATCH, "images")

    def adamw():
        return keras.optimizers.AdamW(LEARNING_RATE, beta_1=0.9, beta_2=0.99)

    if mode == "train":
        # Reconstruction (L2 + logit-Laplace) + VQ; the GAN terms start after the run.
        model.compile(
            optimizer=adamw(),
            discriminator_optimizer=adamw(),
            perceptual_weight=0.0,
            discriminator_start=10**9,
        )
    else:
        # The paper's full loss from step 0, VGG16 with random weights (never downloaded).
        model.compile(
            optimizer=adamw(),
            discriminator_optimizer=adamw(),
            perceptual_network_weights=None,
            discriminator_start=0,
        )
    return Case(lambda: model.train_on_batch(x, return_dict=True), BATCH, "images")


def peer_case(mode):
    import torch
    import torch.nn.functional as F

    from benchmarks.peers import parti_tokenizer

    torch.manual_seed(0)
    vae = parti_tokenizer(
        IMAGE, PATCH, WIDTH, LAYERS, HEADS, MLP, CODES, CODE_DIM, with_gan=mode == "gan"
    )
    x = torch.from_numpy(images()).permute(0, 3, 1, 2).contiguous()

    def encode():
        fmap, ids, commitment = vae.quantizer(vae.enc_dec.encode(x))
        return fmap, ids, commitment

    if mode in ("encode", "decode"):
        vae.eval()
        if mode == "encode":

            def run_encode():
                with torch.no_grad():
                    return encode()[1]

            return Case(run_encode, BATCH, "images")
        with torch.no_grad():
            ids = encode()[1]

        def run_decode():
            with torch.no_grad():
                # What `get_output_from_indices` should do for image feature maps.
                codes = vae.quantizer.project_out(vae.quantizer.codebook[ids])  # (b, h, w, c)
                return vae.enc_dec.decode(codes.permute(0, 3, 1, 2))

        return Case(run_decode, BATCH, "images")

    vae.train()
    generator_parameters = [
        p for name, p in vae.named_parameters() if not name.startswith(("discr.", "vgg."))
    ]
    optimizer = torch.optim.AdamW(generator_parameters, LEARNING_RATE, betas=(0.9, 0.99))
    if mode == "train":

        def run_train():
            fmap, _, commitment = encode()
            loss = F.mse_loss(vae.enc_dec.decode(fmap), x) + commitment.sum()
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            return loss

        return Case(run_train, BATCH, "images")

    # parti's own GAN step (its trainer): generator loss with perceptual + adaptive-weighted
    # adversarial terms, then the discriminator's hinge loss on the detached reconstruction
    # (its `return_discr_loss` path fails without the gradient penalty, so it is written out).
    for p in vae.vgg.parameters():
        p.requires_grad_(False)
    discriminator_optimizer = torch.optim.AdamW(
        vae.discr.parameters(), LEARNING_RATE, betas=(0.9, 0.99)
    )

    def run_gan():
        loss, reconstruction = vae(x, return_loss=True, return_recons=True)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        fake = reconstruction.detach()
        discriminator_loss = vae.discr_loss(vae.discr(fake), vae.discr(x))
        discriminator_loss.backward()
        discriminator_optimizer.step()
        discriminator_optimizer.zero_grad(set_to_none=True)
        return loss, discriminator_loss

    return Case(run_gan, BATCH, "images")


MODES = {
    "encode": ("tokenizer encode", 1.5),
    "decode": ("tokenizer decode", 1.5),
    "train": ("tokenizer reconstruction + VQ train step", 1.5),
    "gan": ("tokenizer full GAN train step", None),
}
CASES = {
    (mode, impl): (lambda m=mode, f=factory: f(m))
    for mode in MODES
    for impl, factory in (("keras_vim", keras_vim_case), ("peer", peer_case))
}


def run(repeats, warmup, modes=tuple(MODES)):
    rows = []
    for mode in modes:
        title, target = MODES[mode]
        cases = {impl: CASES[(mode, impl)]() for impl in ("keras_vim", "peer")}
        threads = best_torch_threads(cases["peer"], rounds=1 if mode == "gan" else 2)
        times = compare(cases, repeats=repeats, warmup=warmup)
        row = {
            "benchmark": title,
            "unit": "images/s",
            "keras_vim": BATCH / median(times["keras_vim"]),
            "peer": BATCH / median(times["peer"]),
            "speedup_vs_peer": paired_speedup(times["keras_vim"], times["peer"]),
            "target_vs_peer": target,
            "times": times,
            "torch_threads": threads,
        }
        rows.append(row)
        print(
            f"{title:<45} keras_vim {row['keras_vim']:8.1f} img/s | parti {row['peer']:8.1f}"
            f" | x{row['speedup_vs_peer']:.2f}",
            flush=True,
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    rows = run(args.repeats, args.warmup, args.modes)
    output = args.output or f"benchmarks/results/tokenizer_{keras.backend.backend()}.json"
    write_json(output, {"environment": environment(), "rows": rows})


if __name__ == "__main__":
    main()
