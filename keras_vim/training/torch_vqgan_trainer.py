"""ViT-VQGAN train/test steps for the PyTorch backend (`torch.autograd.grad` per network)."""

import torch

from keras_vim.training.vqgan_trainer import VQGANTrainerBase, unpack_images


def _grads(loss, variables):
    if not variables:
        return []
    tensors = [v.value for v in variables]
    if not loss.requires_grad:
        return [torch.zeros_like(t) for t in tensors]
    grads = torch.autograd.grad(loss, tensors, allow_unused=True)
    return [torch.zeros_like(t) if g is None else g for g, t in zip(grads, tensors)]


class VQGANTrainer(VQGANTrainerBase):
    def value_and_input_gradient(self, fn, inputs):
        inputs = inputs.detach().requires_grad_(True)
        outputs = fn(inputs)
        (gradient,) = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
        return outputs, gradient

    def train_step(self, data):
        images = self.prepare_images(unpack_images(data))
        generator_vars, discriminator_vars = self.optimizer.split(self.trainable_variables)
        total, terms, outputs = self.generator_losses(images)
        # Only the generator's gradients: the discriminator's from this loss are never taken.
        generator_grads = _grads(total, generator_vars)
        fake_images = outputs["reconstruction"].detach()
        d_total, d_terms = self.discriminator_losses(images, fake_images)
        discriminator_grads = _grads(d_total, discriminator_vars)
        with torch.no_grad():
            self.optimizer.generator_optimizer.apply(generator_grads, generator_vars)
            if discriminator_vars and self.trains_discriminator:
                self.optimizer.discriminator_optimizer.apply(
                    discriminator_grads, discriminator_vars
                )
            terms = {k: v.detach() for k, v in terms.items()}
            d_terms = {k: v.detach() for k, v in d_terms.items()}
            return self.after_update(
                images, total.detach(), terms, d_total.detach(), d_terms, outputs
            )

    def test_step(self, data):
        images = self.prepare_images(unpack_images(data))
        with torch.no_grad():
            total, terms, outputs = self.generator_losses(images, training=False)
            return self.update_metrics(total, terms, 0.0, {}, outputs)
