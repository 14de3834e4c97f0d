"""Built-in VIM configurations: the paper's VIM-Base and VIM-Large and a tiny CPU model."""

# 256x256 images through a patch-8 ViT-VQGAN: a 32x32 grid of 8192 codes; ImageNet's 1000 classes.
_PAPER = {"vocabulary_size": 8192, "grid_size": 32, "num_classes": 1000, "dropout": 0.1}

VIM_PRESETS = {
    "vim_base": {
        "description": "Paper VIM-Base: 24 blocks, 16 heads, width 1536, MLP 6144 (~650M "
        "parameters), class-conditional (1000 classes) over 32x32 grids of 8192 codes. "
        "Architecture only: random weights.",
        "config": {
            **_PAPER,
            "num_layers": 24,
            "num_heads": 16,
            "hidden_dim": 1536,
            "mlp_dim": 6144,
        },
    },
    "vim_large": {
        "description": "Paper VIM-Large: 36 blocks, 32 heads, width 2048, MLP 8192 (~1.7B "
        "parameters), class-conditional (1000 classes) over 32x32 grids of 8192 codes. "
        "Architecture only: random weights.",
        "config": {
            **_PAPER,
            "num_layers": 36,
            "num_heads": 32,
            "hidden_dim": 2048,
            "mlp_dim": 8192,
        },
    },
    "vim_tiny": {
        "description": "Tiny CPU-sized VIM for the `vit_vqgan_tiny` tokenizer (8x8 grids of 512 "
        "codes, Fashion-MNIST's 10 classes): 3 blocks of width 96 (~0.44M parameters; at this "
        "size a shallower, narrower model trains more steps in the same CPU time and learns "
        "more: see the README's main job), no dropout (a few thousand CPU steps underfit, and "
        "dropout costs ~20% of the step time), class dropout 0.05 for classifier-free "
        "guidance (0.1 drew classes less faithfully without guidance). Architecture only: "
        "random weights.",
        "config": {
            "vocabulary_size": 512,
            "grid_size": 8,
            "num_classes": 10,
            "num_layers": 3,
            "num_heads": 4,
            "hidden_dim": 96,
            "mlp_dim": 384,
            "dropout": 0.0,
            "class_dropout": 0.05,
        },
    },
    "vim_tiny_fashion_mnist": {
        "description": "`vim_tiny` trained on Fashion-MNIST tokens of the "
        "`vit_vqgan_tiny_fashion_mnist` tokenizer: a class-conditional prior (10 classes, "
        "classifier-free guidance) with trained weights shipped in the package. Its model card "
        "(keras_vim/presets/vim_tiny_fashion_mnist/README.md) says how it was trained and what "
        "it scores.",
        "directory": "vim_tiny_fashion_mnist",
    },
}
