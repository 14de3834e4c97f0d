"""ViT-VQGAN train/test steps for the JAX backend.

JAX steps are pure functions of the state `(trainable, non_trainable, optimizer, metrics)`.
Each loss is computed inside a `StatelessScope` that maps every variable to its value in that
state, so the shared `keras.ops` code reads (and assigns) variables as if it were stateful.
The discriminator optimizer's state is part of `model.optimizer.variables` (`GANOptimizer`).
"""

import jax
from keras import StatelessScope, ops

from keras_vim.training.vqgan_trainer import VQGANTrainerBase, unpack_images


def _current(scope, references, values):
    """The values of `references` at the end of `scope` (unchanged ones from `values`)."""
    new_values = []
    for reference, value in zip(references, values):
        current = scope.get_current_value(reference)
        new_values.append(value if current is None else current)
    return new_values


class VQGANTrainer(VQGANTrainerBase):
    def _when_adversarial(self, compute, num_outputs):
        # XLA's CPU backend runs the discriminator's convolutions ~20x slower inside a
        # conditional than outside it, which made every step after `discriminator_start` ~6x
        # slower than a step without the condition. On CPU the adversarial terms are computed
        # at every step and zeroed before the start instead (zero gradients, as before).
        if self.discriminator_start == 0 or jax.default_backend() != "cpu":
            return super()._when_adversarial(compute, num_outputs)
        active = self._adversarial_active()
        return tuple(ops.where(active, ops.cast(value, "float32"), 0.0) for value in compute())

    def value_and_input_gradient(self, fn, inputs):
        outputs, pullback = jax.vjp(fn, inputs)
        (gradient,) = pullback(jax.numpy.ones_like(outputs))
        return outputs, gradient

    def _mapping(self, trainable, non_trainable, optimizer=None, metrics=None):
        mapping = list(zip(self.trainable_variables, trainable))
        mapping += list(zip(self.non_trainable_variables, non_trainable))
        if optimizer is not None:
            mapping += list(zip(self.optimizer.variables, optimizer))
        if metrics is not None:
            mapping += list(zip(self.metrics_variables, metrics))
        return mapping

    def train_step(self, state, data):
        trainable, non_trainable, optimizer_values, metrics_values = state
        images = self.prepare_images(unpack_images(data))
        discriminator_ids = {id(v) for v in self.discriminator.trainable_variables}
        is_discriminator = [id(v) in discriminator_ids for v in self.trainable_variables]

        def split(values):
            generator = [v for v, d in zip(values, is_discriminator) if not d]
            discriminator = [v for v, d in zip(values, is_discriminator) if d]
            return generator, discriminator

        def merge(generator, discriminator):
            generator, discriminator = iter(generator), iter(discriminator)
            return [next(discriminator) if d else next(generator) for d in is_discriminator]

        generator_values, discriminator_values = split(trainable)

        def generator_loss(generator_values, non_trainable):
            values = merge(generator_values, discriminator_values)
            mapping = self._mapping(values, non_trainable, optimizer_values)
            with StatelessScope(state_mapping=mapping) as scope:
                total, terms, outputs = self.generator_losses(images)
            non_trainable = _current(scope, self.non_trainable_variables, non_trainable)
            return total, (terms, outputs, non_trainable)

        (total, (terms, outputs, non_trainable)), generator_grads = jax.value_and_grad(
            generator_loss, has_aux=True
        )(generator_values, non_trainable)
        fake_images = jax.lax.stop_gradient(outputs["reconstruction"])

        def discriminator_loss(discriminator_values, non_trainable):
            values = merge(generator_values, discriminator_values)
            mapping = self._mapping(values, non_trainable, optimizer_values)
            with StatelessScope(state_mapping=mapping) as scope:
                d_total, d_terms = self.discriminator_losses(images, fake_images)
            non_trainable = _current(scope, self.non_trainable_variables, non_trainable)
            return d_total, (d_terms, non_trainable)

        (d_total, (d_terms, non_trainable)), discriminator_grads = jax.value_and_grad(
            discriminator_loss, has_aux=True
        )(discriminator_values, non_trainable)

        own, generator_opt, discriminator_opt = self.optimizer.split_values(optimizer_values)
        generator_values, generator_opt = self.optimizer.generator_optimizer.stateless_apply(
            generator_opt, generator_grads, generator_values
        )
        if discriminator_values and self.trains_discriminator:
            discriminator_values, discriminator_opt = (
                self.optimizer.discriminator_optimizer.stateless_apply(
                    discriminator_opt, discriminator_grads, discriminator_values
                )
            )
        trainable = merge(generator_values, discriminator_values)
        optimizer_values = list(own) + list(generator_opt) + list(discriminator_opt)

        mapping = self._mapping(trainable, non_trainable, optimizer_values, metrics_values)
        with StatelessScope(state_mapping=mapping) as scope:
            logs = self.after_update(images, total, terms, d_total, d_terms, outputs)
        trainable = _current(scope, self.trainable_variables, trainable)
        non_trainable = _current(scope, self.non_trainable_variables, non_trainable)
        metrics_values = _current(scope, self.metrics_variables, metrics_values)
        return logs, (trainable, non_trainable, optimizer_values, metrics_values)

    def test_step(self, state, data):
        trainable, non_trainable, metrics_values = state
        images = self.prepare_images(unpack_images(data))
        mapping = self._mapping(trainable, non_trainable, metrics=metrics_values)
        mapping += [(v, v.value) for v in self.optimizer.variables]
        with StatelessScope(state_mapping=mapping) as scope:
            total, terms, outputs = self.generator_losses(images, training=False)
            logs = self.update_metrics(total, terms, 0.0, {}, outputs)
        non_trainable = _current(scope, self.non_trainable_variables, non_trainable)
        metrics_values = _current(scope, self.metrics_variables, metrics_values)
        return logs, (trainable, non_trainable, metrics_values)
