"""One optimizer object holding the generator's and the discriminator's optimizers."""

import keras


@keras.saving.register_keras_serializable(package="keras_vim")
class GANOptimizer(keras.optimizers.Optimizer):
    """Pairs a generator optimizer and a discriminator optimizer as one Keras optimizer.

    Keras trainers carry exactly one optimizer's state (on JAX, the compiled train step threads
    only `model.optimizer.variables`). This container exposes both optimizers' variables as its
    own, so the discriminator's optimizer state is threaded, saved, restored and distributed like
    the generator's. Each network is still updated by its own optimizer: the train step calls
    `generator_optimizer` on the generator's gradients and `discriminator_optimizer` on the
    discriminator's. `learning_rate` and `iterations` are the generator optimizer's, so Keras
    callbacks see the main schedule.

    Args:
        generator_optimizer: a Keras optimizer for the tokenizer (encoder, quantizer, decoder).
        discriminator_optimizer: a Keras optimizer for the discriminator.
        discriminator_variables: the discriminator's trainable variables, or a callable
            returning them; `build(var_list)` gives these to the discriminator optimizer and
            everything else to the generator optimizer.

    Example:
    >>> optimizer = keras_vim.training.GANOptimizer(
    ...     keras.optimizers.Adam(1e-4), keras.optimizers.Adam(1e-4), discriminator_variables=[]
    ... )
    """

    def __init__(
        self,
        generator_optimizer,
        discriminator_optimizer,
        discriminator_variables=None,
        name="gan_optimizer",
        **kwargs,
    ):
        super().__init__(learning_rate=0.0, name=name, **kwargs)
        self.generator_optimizer = keras.optimizers.get(generator_optimizer)
        self.discriminator_optimizer = keras.optimizers.get(discriminator_optimizer)
        self._discriminator_variables = discriminator_variables

    def split(self, var_list):
        """Splits `var_list` into (generator variables, discriminator variables), keeping order."""
        discriminator = self._discriminator_variables
        if callable(discriminator):
            discriminator = discriminator()
        discriminator_ids = {id(v) for v in discriminator or []}
        generator = [v for v in var_list if id(v) not in discriminator_ids]
        disc = [v for v in var_list if id(v) in discriminator_ids]
        return generator, disc

    def build(self, var_list):
        generator_vars, discriminator_vars = self.split(var_list)
        self.generator_optimizer.build(generator_vars)
        self.discriminator_optimizer.build(discriminator_vars)
        super().build(var_list)

    @property
    def variables(self):
        return (
            self._variables
            + self.generator_optimizer.variables
            + self.discriminator_optimizer.variables
        )

    def split_values(self, optimizer_values):
        """Splits values ordered like `variables` into (own, generator's, discriminator's)."""
        own = len(self._variables)
        generator = own + len(self.generator_optimizer.variables)
        return (
            optimizer_values[:own],
            optimizer_values[own:generator],
            optimizer_values[generator:],
        )

    def apply(self, grads, trainable_variables=None):
        raise NotImplementedError(
            "GANOptimizer is a container: apply `generator_optimizer` and "
            "`discriminator_optimizer` to their own gradients."
        )

    @property
    def iterations(self):
        return self.generator_optimizer.iterations

    @property
    def learning_rate(self):
        return self.generator_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        self.generator_optimizer.learning_rate = learning_rate

    def get_config(self):
        return {
            "name": self.name,
            "generator_optimizer": keras.optimizers.serialize(self.generator_optimizer),
            "discriminator_optimizer": keras.optimizers.serialize(self.discriminator_optimizer),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("generator_optimizer", "discriminator_optimizer"):
            config[key] = keras.optimizers.deserialize(config[key], custom_objects=custom_objects)
        return cls(**config)
