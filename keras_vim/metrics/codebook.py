"""Codebook health as Keras metrics: usage (the paper's Table 4 measure) and perplexity."""

import keras
from keras import ops

from keras_vim.layers.quantizer import codebook_perplexity, codebook_usage


class _PerBatchMean(keras.metrics.Metric):
    def __init__(self, num_codes, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.num_codes = num_codes
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, ids, sample_weight=None):
        self.total.assign(self.total + ops.cast(self._per_batch(ids), self.dtype))
        self.count.assign(self.count + 1.0)

    def result(self):
        return self.total / ops.maximum(self.count, 1.0)

    def get_config(self):
        return {"num_codes": self.num_codes, "name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="keras_vim")
class CodebookUsage(_PerBatchMean):
    """Fraction of the codebook used by a batch of token ids, averaged over batches.

    The paper's "codebook usage" (Table 4) is this metric over batches of 256 test images.

    Args:
        num_codes: codebook size.

    Example:
    >>> metric = keras_vim.metrics.CodebookUsage(num_codes=4)
    >>> metric.update_state(np.array([[0, 1], [1, 1]]))
    >>> float(metric.result())
    0.5
    """

    def _per_batch(self, ids):
        return codebook_usage(ids, self.num_codes)


@keras.saving.register_keras_serializable(package="keras_vim")
class CodebookPerplexity(_PerBatchMean):
    """`exp(entropy)` of each batch's code histogram, averaged over batches.

    Equals the number of codes in use when they are used equally often; far below
    `num_codes` signals collapse even when usage looks fine.

    Args:
        num_codes: codebook size.

    Example:
    >>> metric = keras_vim.metrics.CodebookPerplexity(num_codes=4)
    >>> metric.update_state(np.array([0, 1, 2, 3]))
    >>> round(float(metric.result()), 3)
    4.0
    """

    def _per_batch(self, ids):
        return codebook_perplexity(ids, self.num_codes)
