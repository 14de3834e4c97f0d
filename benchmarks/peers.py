"""The PyTorch implementations keras_vim is compared with, built at the benchmark shapes.

- `vector-quantize-pytorch`: `VectorQuantize` (the quantizer).
- `parti-pytorch`: `VitVQGanVAE` (the tokenizer). Its package `__init__` imports T5 from
  `transformers` and its `vit_vqgan` module imports `torchvision` (only for an ImageNet VGG16,
  which it downloads); neither is installed beside the CPU torch build here, so the module is
  loaded from its file with a placeholder `torchvision`, and it is given the hand-written VGG16
  below (random weights, like the keras_vim side of the GAN step).
- `x-transformers`: `TransformerWrapper` + `Decoder` + `AutoregressiveWrapper` (the prior).
"""

import importlib.util
import sys
import types


def load_parti_vit_vqgan():
    """parti-pytorch's `vit_vqgan` module, imported by itself (see the module docstring)."""
    name = "parti_pytorch_vit_vqgan"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec("parti_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("parti-pytorch is not installed: pip install --no-deps parti-pytorch")
    path = f"{list(spec.submodule_search_locations)[0]}/vit_vqgan.py"
    if "torchvision" not in sys.modules:
        # Only `torchvision.models.vgg16(pretrained=True)` is used, and only when no `vgg`
        # module is passed in; a placeholder lets the file import.
        sys.modules["torchvision"] = types.ModuleType("torchvision")
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    module_spec.loader.exec_module(module)
    return module


def vgg16_features():
    """The 13 convolutions of VGG16 with their ReLUs and pools, random weights (PyTorch)."""
    from torch import nn

    layers, channels = [], 3
    for width, count in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(count):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
            channels = width
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, nn.Flatten())


def parti_tokenizer(
    image_size, patch_size, width, num_layers, num_heads, mlp_dim, num_codes, code_dim, with_gan
):
    """parti-pytorch's `VitVQGanVAE` at keras_vim's tokenizer shapes (classic VQ, cosine)."""
    vit_vqgan = load_parti_vit_vqgan()
    return vit_vqgan.VitVQGanVAE(
        dim=width,
        image_size=image_size,
        channels=3,
        layers=num_layers,
        encdec_patch_size=patch_size,
        encdec_heads=num_heads,
        encdec_dim_head=width // num_heads,
        encdec_ff_mult=mlp_dim // width,
        lookup_free_quantization=False,
        codebook_size=num_codes,
        # `vq_kwargs=dict(...)` is ignored by parti; `vq_`-prefixed keywords reach the VQ.
        vq_codebook_dim=code_dim,
        vq_decay=0.99,
        vq_commitment_weight=0.25,
        use_vgg_and_gan=with_gan,
        vgg=vgg16_features() if with_gan else None,
        l2_recon_loss=True,
    )


def x_transformer(vocabulary_size, sequence_length, width, num_layers, num_heads, mlp_dim):
    """x-transformers' decoder-only model over `vocabulary_size` ids (image codes and class
    tokens share the table), wrapped for training loss and cached generation."""
    from x_transformers import AutoregressiveWrapper, Decoder, TransformerWrapper

    net = TransformerWrapper(
        num_tokens=vocabulary_size,
        max_seq_len=sequence_length,
        attn_layers=Decoder(
            dim=width,
            depth=num_layers,
            heads=num_heads,
            attn_dim_head=width // num_heads,
            ff_mult=mlp_dim // width,
        ),
    )
    return AutoregressiveWrapper(net)
