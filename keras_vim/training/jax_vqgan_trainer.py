"""ViT-VQGAN train/test steps for the JAX backend.

JAX steps are pure functions of the state `(trainable, non_trainable, optimizer, metrics)`.
Each loss is computed inside a `StatelessScope` that maps every variable to its value in that
state, so the shared `keras.ops` code reads (and assigns) variables as if it were stateful.
The discriminator optimizer's state is part of `model.optimizer.variables` (`GANOptimizer`).
"""

import jax
import keras
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
    # While a phase's step is traced: False (before `discriminator_start`) or True (after);
    # None when one compiled step covers both (see `make_train_function`).
    _adversarial_phase = None

    def _when_adversarial(self, compute, num_outputs):
        if self._adversarial_phase is not None:
            if self._adversarial_phase:
                return compute()
            return tuple(ops.zeros((), "float32") for _ in range(num_outputs))
        # XLA's CPU backend runs the discriminator's convolutions ~20x slower inside a
        # conditional than outside it. Where the phases are not compiled apart (a distributed
        # run on CPU), the terms are computed at every step and zeroed before the start.
        if self.discriminator_start == 0 or jax.default_backend() != "cpu":
            return super()._when_adversarial(compute, num_outputs)
        active = self._adversarial_active()
        return tuple(ops.where(active, ops.cast(value, "float32"), 0.0) for value in compute())

    def _iterations_index(self):
        """Where the step counter is in the optimizer state, or None."""
        for index, variable in enumerate(self.optimizer.variables):
            if variable is self.optimizer.iterations:
                return index
        return None

    def make_train_function(self, force=False):
        """On CPU, one compiled step per phase, chosen on the host from the step counter.

        A conditional on the step counter would keep the discriminator out of the steps
        before `discriminator_start`, but XLA's CPU backend runs convolutions inside it ~20x
        slower; computing and zeroing the terms instead costs every early step a discriminator
        pass. Two programs avoid both. Elsewhere (accelerators, distributed runs) Keras'
        single compiled step is kept.
        """
        index = self._iterations_index()
        if (
            jax.default_backend() != "cpu"
            or self.discriminator_start == 0
            or not self.loss_weights["generator_adversarial"]
            or self.run_eagerly
            or not self.jit_compile
            or keras.distribution.distribution() is not None
            or index is None
        ):
            return super().make_train_function(force)
        if self.train_function is not None and not force:
            return
        steps = {phase: self._phase_step(phase) for phase in (False, True)}

        def train_step(state, data):
            started = bool(state[2][index] >= self.discriminator_start)  # a host read
            return steps[started](state, data)

        self.train_function = self._make_function(train_step)

    def _phase_step(self, phase):
        def train_step(state, data):
            # Read while tracing: the phase is fixed in this step's program.
            self._adversarial_phase = phase
            try:
                return self.train_step(state, data)
            finally:
                self._adversarial_phase = None

        return jax.jit(train_step, donate_argnums=0)

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
