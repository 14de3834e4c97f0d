"""Adversarial losses for the ViT-VQGAN discriminator (StyleGAN2 recipe, Yu et al. 2021, Sec. 3.2).

All functions take logits of shape `(B, 1)` or `(B,)` (any dtype), compute in float32 and
return a float32 scalar. The generator/tokenizer minimises `generator_adversarial_loss`, the
discriminator minimises `discriminator_adversarial_loss` (+ `gamma / 2 * r1_penalty`).
"""

from keras import ops


def _float32(x):
    return ops.cast(ops.convert_to_tensor(x), "float32")


def generator_adversarial_loss(fake_logits):
    """Non-saturating generator loss: `mean(softplus(-D(G(z))))`, i.e. `-log sigmoid(D(fake))`.

    Args:
        fake_logits: discriminator logits on generated (reconstructed) images.

    Returns:
        A float32 scalar.
    """
    return ops.mean(ops.softplus(-_float32(fake_logits)))


def discriminator_adversarial_loss(real_logits, fake_logits):
    """Logistic discriminator loss: `mean(softplus(-D(real))) + mean(softplus(D(fake)))`.

    Args:
        real_logits: discriminator logits on real images.
        fake_logits: discriminator logits on generated images (with stopped gradient
            towards the generator).

    Returns:
        A float32 scalar.
    """
    real = _float32(real_logits)
    fake = _float32(fake_logits)
    return ops.mean(ops.softplus(-real)) + ops.mean(ops.softplus(fake))


def r1_penalty(real_grads):
    """R1 gradient penalty (Mescheder et al. 2018) as used by StyleGAN2.

    `mean_b sum_{h,w,c} (dD/dx)^2`: the squared gradient norm of the discriminator at the real
    images, averaged over the batch. The caller computes `real_grads` (backend-specific, in the
    trainer) as the gradient of `sum(D(real_images))` with respect to `real_images`; summing the
    logits makes the gradient of each image independent of the batch size.

    The usual discriminator term is `gamma / 2 * r1_penalty(real_grads)` (StyleGAN2 uses
    `gamma = 10` on FFHQ; StyleGAN2-ADA's heuristic is `gamma = 0.0002 * resolution**2 /
    batch_size`). With lazy regularization (applied every `k` steps, StyleGAN2 uses `k = 16`)
    the term is also multiplied by `k`.

    Args:
        real_grads: gradients of shape `(B, ...)`, same shape as the real images.

    Returns:
        A float32 scalar.
    """
    grads = _float32(real_grads)
    axes = tuple(range(1, len(grads.shape)))
    return ops.mean(ops.sum(ops.square(grads), axis=axes))


def generator_hinge_loss(fake_logits):
    """Hinge-GAN generator loss: `-mean(D(fake))`.

    Args:
        fake_logits: discriminator logits on generated images.

    Returns:
        A float32 scalar.
    """
    return -ops.mean(_float32(fake_logits))


def discriminator_hinge_loss(real_logits, fake_logits):
    """Hinge-GAN discriminator loss: `mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))`.

    Args:
        real_logits: discriminator logits on real images.
        fake_logits: discriminator logits on generated images.

    Returns:
        A float32 scalar.
    """
    real = _float32(real_logits)
    fake = _float32(fake_logits)
    return ops.mean(ops.relu(1.0 - real)) + ops.mean(ops.relu(1.0 + fake))
