"""The VIM task's training: `compile` (with its sampler), the per-batch inputs, the
next-token cross-entropy and the metrics `fit` reports."""

import math

import keras
from keras import ops

from keras_vim import backend_ops
from keras_vim.distribution.replicas import scale_for_replicas
from keras_vim.sampling import samplers
from keras_vim.training.vim_schedules import vim_optimizer


class VIMTraining:
    """`compile` / `fit` of a prior whose `call` returns logits over `vocabulary_size` codes
    and that has `num_classes`, `accuracy_tracker` and `bits_per_token_tracker`."""

    def compile(self, optimizer=None, sampler=None, **kwargs):
        """Configures training (next-token cross-entropy with `accuracy` and
        `bits_per_token`) and sampling.

        Args:
            optimizer: default `keras_vim.training.vim_schedules.vim_optimizer()` (the paper's
                450k-step schedule; pass your own for shorter runs).
            sampler: the `keras_vim.sampling.Sampler` `generate` uses (or a name, `"random"`
                or `"greedy"`, or a serialized sampler); default `Sampler()`.
            **kwargs: other `keras.Model.compile` arguments (`jit_compile`,
                `steps_per_execution`, ...). The loss and metrics are built in.
        """
        for name in ("loss", "metrics", "weighted_metrics", "loss_weights"):
            if kwargs.get(name) is not None:
                raise ValueError(
                    f"VIM.compile() takes no `{name}`: the next-token cross-entropy, accuracy "
                    "and bits-per-token are built in."
                )
        self.sampler = samplers.get(sampler)
        super().compile(optimizer=vim_optimizer() if optimizer is None else optimizer, **kwargs)

    def get_compile_config(self):
        config = super().get_compile_config()
        if config is not None:
            config["sampler"] = samplers.serialize(self.sampler)
        return config

    def compile_from_config(self, config):
        # Keras skips `compile()` on load for overridden `compile` methods unless told how.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def _as_model_inputs(self, data):
        """Keras' `(x, y)` -> model inputs: the `y` of `(tokens, class_ids)` batches is the
        class, which the forward pass needs."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if sample_weight is not None:
            raise ValueError("VIM training does not support `sample_weight`.")
        if y is None:
            return (x,)
        if self.num_classes is None:
            raise ValueError(
                "The batches hold class ids (the `y` of `(tokens, class_ids)`), but this VIM is "
                "unconditional (num_classes=None). Feed token ids alone, or build the model "
                "with `num_classes`."
            )
        if isinstance(x, dict):
            if "class_ids" in x:
                raise ValueError("Class ids were given both in the input dict and as `y`.")
            return ({**x, "class_ids": y},)
        return ({"tokens": x, "class_ids": y},)

    def fit(self, *args, **kwargs):
        history = super().fit(*args, **kwargs)
        backend_ops.unshare_moving_average(self)  # an EMA optimizer's weights, safe to save
        return history

    def make_train_function(self, force=False):
        backend_ops.prepare_train_function(self)
        return super().make_train_function(force)

    # Keras' JAX trainer passes `(state, data)`, the TensorFlow and PyTorch ones `(data)`.
    def train_step(self, *args):
        *state, data = args
        return super().train_step(*state, self._as_model_inputs(data))

    def test_step(self, *args):
        *state, data = args
        return super().test_step(*state, self._as_model_inputs(data))

    def predict_step(self, *args):
        *state, data = args
        return super().predict_step(*state, self._as_model_inputs(data))

    def _cross_entropy(self, x, y_pred):
        tokens, _ = self._unpack_inputs(x)
        length = math.prod(tokens.shape[1:])
        targets = ops.reshape(ops.cast(tokens, "int32"), (-1, length))
        logits = ops.reshape(ops.cast(y_pred, "float32"), (-1, length, self.vocabulary_size))
        losses = keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
        return ops.mean(losses), targets, logits

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss, _, _ = self._cross_entropy(x, y_pred)
        if self.losses:
            loss = loss + ops.sum(self.losses)
        # Per replica under TensorFlow's MirroredStrategy (as Keras' own compute_loss does).
        return scale_for_replicas(loss)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        loss, targets, logits = self._cross_entropy(x, y_pred)
        self.bits_per_token_tracker.update_state(loss / math.log(2.0))
        self.accuracy_tracker.update_state(targets, logits)
        return self.get_metrics_result()
