"""Checking every batch that enters a model's `fit`, `evaluate` or `predict`.

In-memory arrays can be checked whole before training starts. Batches that a `tf.data`
dataset, a Python generator or a `keras.utils.PyDataset` yields must be checked one by one,
before the model sees them: inside a compiled step their values cannot be read (JAX), and
XLA drops TensorFlow's assertions, so a bad batch would be trained on silently (on JAX, one
token id out of range turns every weight into NaN). `BatchChecker.wrap` runs a host-side
check on each batch of these inputs, on every backend:

- a `tf.data` dataset is checked once through its `element_spec` (shapes with None for
  unknown sizes, dtypes, no values), then gets a `map` that calls the check on each batch
  through `tf.numpy_function` (the batch waits for it, so no step sees an unchecked batch);
- a generator is wrapped in a generator that checks what it yields;
- a `PyDataset` is wrapped in one that checks what `__getitem__` returns.

TensorFlow reports an error raised inside a dataset as its own error type (for example
`InvalidArgumentError`), with the message inside; within `BatchChecker.errors()` the check's
original error is raised instead. `CheckedInputs` applies all this to a model's `fit`,
`evaluate` and `predict`. Other inputs Keras takes (a torch `DataLoader`, grain) are passed
on unwrapped (on PyTorch, whose steps run eagerly, `VIM`'s forward pass still checks ids).
"""

import contextlib
import itertools
import sys
import types

import keras
import numpy as np

from keras_vim import backend_ops


class BatchChecker:
    """Runs `check(batch)` (numpy arrays in the batch's structure; it raises on a bad batch)
    on every batch of a dataset, generator or PyDataset, and `check_spec(element_spec)` (the
    same structure of `tf.TensorSpec`s: shapes, dtypes, no values) once on a dataset.

    Example:

    ```python
    checker = BatchChecker(check)
    with checker.errors():
        model.fit(checker.wrap(dataset))
    ```
    """

    def __init__(self, check, check_spec=None):
        self._check = check
        self._check_spec = check_spec
        self.error = None

    def check(self, batch):
        try:
            self._check(batch)
        except (TypeError, ValueError) as error:
            if self.error is None:
                self.error = error
            raise

    def wrap(self, data):
        """`data` with every batch checked; other inputs (arrays, ...) are returned as they are."""
        if _is_tf_dataset(data):
            return self._checked_dataset(data)
        if isinstance(data, types.GeneratorType):
            return self._checked_generator(data)
        if isinstance(data, keras.utils.PyDataset):
            return _CheckedPyDataset(data, self.check)
        return data

    @contextlib.contextmanager
    def errors(self):
        """Re-raises the check's own error when a TensorFlow error carries its message."""
        try:
            yield
        except Exception as error:
            original = self.error
            if original is None or error is original or str(original) not in str(error):
                raise
            raise original from None

    def _checked_generator(self, generator):
        for batch in generator:
            self.check(batch)
            yield batch

    def _checked_dataset(self, dataset):
        import tensorflow as tf

        spec = dataset.element_spec
        # The shapes and dtypes now (TensorFlow traces its step from them before any batch
        # is read); sizes the spec leaves unknown (None) and the values wait for the batches.
        if self._check_spec is not None:
            self._check_spec(spec)

        def on_host(*arrays):
            self.check(tf.nest.pack_sequence_as(spec, list(arrays)))
            return np.bool_(True)

        def checked(*element):
            # tf.data passes the parts of a tuple element as separate arguments.
            element = element if isinstance(spec, tuple) else element[0]
            passed = tf.numpy_function(on_host, tf.nest.flatten(element), tf.bool)
            with tf.control_dependencies([passed]):
                return tf.nest.map_structure(tf.identity, element)

        return dataset.map(checked).prefetch(tf.data.AUTOTUNE)


def _is_tf_dataset(data):
    # TensorFlow is imported by whoever built a dataset: no import for other inputs.
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(data, tf.data.Dataset)


class _CheckedPyDataset(keras.utils.PyDataset):
    """A `PyDataset` whose batches are checked as they are read."""

    def __init__(self, dataset, check):
        super().__init__(
            workers=dataset.workers,
            use_multiprocessing=dataset.use_multiprocessing,
            max_queue_size=dataset.max_queue_size,
        )
        self._dataset = dataset
        self._check = check

    def __getitem__(self, index):
        batch = self._dataset[index]
        self._check(batch)
        return batch

    def __len__(self):
        return len(self._dataset)

    @property
    def num_batches(self):
        return self._dataset.num_batches

    def on_epoch_begin(self):
        self._dataset.on_epoch_begin()

    def on_epoch_end(self):
        self._dataset.on_epoch_end()


# The state a JAX step function receives, in order (see Keras' `jax_state_sync`).
_PREDICT_STATE = ("trainable_variables", "non_trainable_variables")
_TEST_STATE = (*_PREDICT_STATE, "metrics_variables")
_TRAIN_STATE = (*_PREDICT_STATE, "optimizer_variables", "metrics_variables")


class CheckedInputs:
    """Mixin for a `keras.Model` whose `fit`, `evaluate`, `predict` and `*_on_batch` check
    their data: the model's `_check_arrays(x, y)` checks in-memory data whole, before any
    step, and `_check_batch(batch)` each batch of a dataset, generator or PyDataset (see
    `BatchChecker`), `validation_data` included. `_check_batch` also gets a dataset's
    `element_spec` (TensorSpecs: it checks the shapes and dtypes; their values are unknown)."""

    def _check_arrays(self, x, y):
        raise NotImplementedError

    def _check_batch(self, batch):
        raise NotImplementedError

    def _run_checked(self, method, x, y, *args, **kwargs):
        self._check_arrays(x, y)
        checker = BatchChecker(self._check_batch, check_spec=self._check_batch)
        validation = kwargs.get("validation_data")
        if isinstance(validation, (tuple, list)):
            self._check_arrays(validation[0], validation[1] if len(validation) > 1 else None)
        elif validation is not None:
            kwargs["validation_data"] = checker.wrap(validation)
        with checker.errors():
            return method(checker.wrap(x), y, *args, **kwargs)

    def fit(self, x=None, y=None, *args, **kwargs):
        return self._run_checked(super().fit, x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        if kwargs.get("_use_cached_eval_dataset"):  # fit's validation: checked by fit
            return super().evaluate(x, y, *args, **kwargs)
        return self._run_checked(super().evaluate, x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        def predict(x, _, *args, **kwargs):
            return super(CheckedInputs, self).predict(x, *args, **kwargs)

        return self._run_checked(predict, x, None, *args, **kwargs)

    # JAX: Keras takes the variables' values out of the model while fit, evaluate and
    # predict step, and puts them back at the end, or (evaluate, predict) not at all after an
    # error: a batch that fails its check would leave the model without weights. So each call
    # of a step function reads its batches first, and hands the state back on an error.
    def make_train_function(self, force=False):
        super().make_train_function(force)
        self.train_function = self._handing_state_back(self.train_function, _TRAIN_STATE)
        return self.train_function

    def make_test_function(self, force=False):
        super().make_test_function(force)
        self.test_function = self._handing_state_back(self.test_function, _TEST_STATE)
        return self.test_function

    def make_predict_function(self, force=False):
        super().make_predict_function(force)
        self.predict_function = self._handing_state_back(self.predict_function, _PREDICT_STATE)
        return self.predict_function

    def _handing_state_back(self, function, state_names):
        if not backend_ops.steps_take_state() or getattr(function, "hands_state_back", False):
            return function

        def step(state, iterator):
            try:
                # All batches of the call before any step: a bad one fails with `state` intact.
                batches = list(itertools.islice(iterator, self.steps_per_execution))
                if not batches:
                    raise StopIteration
                return function(state, iter(batches))
            except StopIteration:
                raise
            except BaseException:
                self._hand_back(state, state_names)
                raise

        step.hands_state_back = True
        return step

    def _hand_back(self, state, state_names):
        """Puts a JAX step's input `state` back into the model's variables, unless a step
        that ran has consumed (donated) it."""
        import jax

        leaves = jax.tree_util.tree_leaves(state)
        if any(getattr(leaf, "is_deleted", lambda: False)() for leaf in leaves):
            return
        self._jax_state = dict(zip(state_names, state))
        self._jax_state_synced = False
        self.jax_state_sync()

    def train_on_batch(self, x, y=None, *args, **kwargs):
        self._check_arrays(x, y)
        return super().train_on_batch(x, y, *args, **kwargs)

    def test_on_batch(self, x, y=None, *args, **kwargs):
        self._check_arrays(x, y)
        return super().test_on_batch(x, y, *args, **kwargs)

    def predict_on_batch(self, x):
        self._check_arrays(x, None)
        return super().predict_on_batch(x)
