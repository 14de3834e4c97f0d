"""ViT-VQGAN losses: adversarial (StyleGAN2), reconstruction (L2, L1, logit-Laplace), perceptual."""

from keras_vim.losses.adversarial import (
    discriminator_adversarial_loss,
    discriminator_hinge_loss,
    generator_adversarial_loss,
    generator_hinge_loss,
    r1_penalty,
)
from keras_vim.losses.perceptual import VGG_WEIGHTS_HELP, PerceptualLoss
from keras_vim.losses.reconstruction import (
    l1_loss,
    l2_loss,
    logit_laplace_loss,
    logit_laplace_mean,
    logit_laplace_nll,
)

__all__ = [
    "PerceptualLoss",
    "VGG_WEIGHTS_HELP",
    "discriminator_adversarial_loss",
    "discriminator_hinge_loss",
    "generator_adversarial_loss",
    "generator_hinge_loss",
    "l1_loss",
    "l2_loss",
    "logit_laplace_loss",
    "logit_laplace_mean",
    "logit_laplace_nll",
    "r1_penalty",
]
