"""Built-in CNN VQGAN configurations (architectures only: random weights)."""

CNN_VQGAN_PRESETS = {
    "cnn_vqgan_tiny": {
        "description": "CNN counterpart of `vit_vqgan_tiny` for 32x32 grayscale images "
        "(Fashion-MNIST): downsampling 4 (8x8 token grids), levels of 24/48/96 channels with "
        "one residual block each, latents of width 128, 512 codes of dim 16; about as many "
        "encoder and decoder parameters as `vit_vqgan_tiny`. Architecture only: random "
        "weights.",
        "config": {
            "image_size": 32,
            "channels": 1,
            "patch_size": 4,
            "filters": 24,
            "channel_multipliers": [1, 2, 4],
            "num_res_blocks": 1,
            "latent_dim": 128,
            "num_codes": 512,
            "code_dim": 16,
            "restart_dead_codes": True,
            "usage_decay": 0.9,
            "discriminator_filters": 16,
            "discriminator_max_filters": 64,
        },
    },
}
