"""Built-in ViT-VQGAN configurations: the paper's sizes (Table 2) and a tiny CPU model."""

# Transformer sizes of paper Table 2, used for the encoder and the decoder independently.
VIT_SIZES = {
    "small": {"hidden_dim": 512, "num_layers": 8, "num_heads": 8, "mlp_dim": 2048},
    "base": {"hidden_dim": 768, "num_layers": 12, "num_heads": 12, "mlp_dim": 3072},
    "large": {"hidden_dim": 1280, "num_layers": 32, "num_heads": 16, "mlp_dim": 5120},
}


def _encoder_decoder(encoder, decoder):
    config = {f"encoder_{k}": v for k, v in VIT_SIZES[encoder].items()}
    config.update({f"decoder_{k}": v for k, v in VIT_SIZES[decoder].items()})
    return config


_PAPER = {"image_size": 256, "channels": 3, "patch_size": 8, "num_codes": 8192, "code_dim": 32}

VIT_VQGAN_PRESETS = {
    "vit_vqgan_ss": {
        "description": "Paper ViT-VQGAN Small encoder / Small decoder, 256x256 RGB, 8192 codes. "
        "Architecture only: random weights.",
        "config": {**_PAPER, **_encoder_decoder("small", "small")},
    },
    "vit_vqgan_bb": {
        "description": "Paper ViT-VQGAN Base encoder / Base decoder, 256x256 RGB, 8192 codes. "
        "Architecture only: random weights.",
        "config": {**_PAPER, **_encoder_decoder("base", "base")},
    },
    "vit_vqgan_sl": {
        "description": "Paper ViT-VQGAN Small encoder / Large decoder, 256x256 RGB, 8192 codes. "
        "Architecture only: random weights.",
        "config": {**_PAPER, **_encoder_decoder("small", "large")},
    },
    "vit_vqgan_tiny": {
        "description": "Tiny CPU-sized ViT-VQGAN for 32x32 grayscale images (Fashion-MNIST): "
        "2+2 blocks of width 128, patch 4, 512 codes of dim 16, with the usage remedies "
        "(patch LayerNorm, dead-code restarts, the codebook initialized at scale 0.01 and "
        "seeded from the first batches). "
        "Architecture only: random weights.",
        "config": {
            "image_size": 32,
            "channels": 1,
            "patch_size": 4,
            "encoder_hidden_dim": 128,
            "encoder_num_layers": 2,
            "encoder_num_heads": 4,
            "encoder_mlp_dim": 512,
            "decoder_hidden_dim": 128,
            "decoder_num_layers": 2,
            "decoder_num_heads": 4,
            "decoder_mlp_dim": 512,
            "num_codes": 512,
            "code_dim": 16,
            "patch_norm": True,
            "restart_dead_codes": True,
            "seed_codebook_from_data": True,
            "codebook_init_scale": 0.01,
            "usage_decay": 0.9,
            "discriminator_filters": 16,
            "discriminator_max_filters": 64,
        },
    },
    "vit_vqgan_tiny_fashion_mnist": {
        "description": "`vit_vqgan_tiny` trained on Fashion-MNIST (32x32 grayscale, 512 codes, "
        "8x8 token grids): trained weights shipped in the package. Its model card "
        "(keras_vim/presets/vit_vqgan_tiny_fashion_mnist/README.md) says how it was trained "
        "and what it scores.",
        "directory": "vit_vqgan_tiny_fashion_mnist",
    },
}
