"""ViT-VQGAN train/test steps for the TensorFlow backend (two gradient tapes)."""

import tensorflow as tf

from keras_vim.distribution.replicas import scale_for_replicas
from keras_vim.training.optimizer_build import build_optimizer_before_trace
from keras_vim.training.vqgan_trainer import VQGANTrainerBase, unpack_images


def _zeros_for_missing(grads, variables):
    return [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]


class VQGANTrainer(VQGANTrainerBase):
    def make_train_function(self, force=False):
        build_optimizer_before_trace(self)
        return super().make_train_function(force)

    def value_and_input_gradient(self, fn, inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = fn(inputs)
            total = tf.reduce_sum(outputs)
        return outputs, tape.gradient(total, inputs)

    def train_step(self, data):
        images = self.prepare_images(unpack_images(data))
        generator_vars, discriminator_vars = self.optimizer.split(self.trainable_variables)
        with tf.GradientTape() as tape:
            total, terms, outputs = self.generator_losses(images)
            # Under a MirroredStrategy the replicas' gradients are summed: scale per replica.
            scaled = scale_for_replicas(total)
        generator_grads = _zeros_for_missing(tape.gradient(scaled, generator_vars), generator_vars)
        fake_images = tf.stop_gradient(outputs["reconstruction"])
        with tf.GradientTape() as tape:
            d_total, d_terms = self.discriminator_losses(images, fake_images)
            d_scaled = scale_for_replicas(d_total)
        discriminator_grads = _zeros_for_missing(
            tape.gradient(d_scaled, discriminator_vars), discriminator_vars
        )
        self.optimizer.generator_optimizer.apply(generator_grads, generator_vars)
        if discriminator_vars and self.trains_discriminator:
            self.optimizer.discriminator_optimizer.apply(discriminator_grads, discriminator_vars)
        return self.after_update(images, total, terms, d_total, d_terms, outputs)

    def test_step(self, data):
        images = self.prepare_images(unpack_images(data))
        total, terms, outputs = self.generator_losses(images, training=False)
        return self.update_metrics(total, terms, 0.0, {}, outputs)
