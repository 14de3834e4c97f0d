"""Model configurations shared by tests (imported by name: `tests/` is on `sys.path`)."""

# A tokenizer small enough for one-thread CPU tests on every backend.
MICRO_VQGAN = dict(
    image_size=16,
    channels=1,
    patch_size=4,
    encoder_hidden_dim=16,
    encoder_num_layers=1,
    encoder_num_heads=2,
    encoder_mlp_dim=32,
    decoder_hidden_dim=16,
    decoder_num_layers=1,
    decoder_num_heads=2,
    decoder_mlp_dim=32,
    num_codes=32,
    code_dim=4,
    discriminator_filters=4,
    discriminator_max_filters=8,
)

# The CNN tokenizer at the same size: 16x16 images, 4x4 token grids.
MICRO_CNN_VQGAN = dict(
    image_size=16,
    channels=1,
    patch_size=4,
    filters=4,
    channel_multipliers=(1, 2, 2),
    num_res_blocks=1,
    latent_dim=16,
    num_codes=32,
    code_dim=4,
    discriminator_filters=4,
    discriminator_max_filters=8,
)

# A prior whose compiled train step has FLOPs and memory well above XLA's fixed overheads, still
# compiled in seconds (benchmarks/scale.py's tests).
SMALL_PRIOR = dict(
    vocabulary_size=64,
    grid_size=8,
    num_classes=10,
    num_layers=2,
    num_heads=4,
    hidden_dim=64,
    mlp_dim=256,
    dropout=0.0,
)
