"""Codebook health: usage (the paper's Table 4 measure), perplexity and dead codes, as Keras
metrics (per training batch) and as statistics of a whole dataset."""

import keras
import numpy as np
from keras import ops

from keras_vim.layers.quantizer import codebook_perplexity, codebook_usage
from keras_vim.utils.checks import check_integer


class _PerBatchMean(keras.metrics.Metric):
    def __init__(self, num_codes, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.num_codes = num_codes
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, ids, sample_weight=None):
        # assign_add: under a tf.distribute strategy the replicas' increments are summed.
        self.total.assign_add(ops.cast(self._per_batch(ids), self.dtype))
        self.count.assign_add(ops.cast(1.0, self.dtype))

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


# The paper measures usage on batches of 256 test images (Table 4).
USAGE_BATCH = 256
# Codes closer than this cosine count as one in `distinct_code_usage`: such near-duplicates
# decode to nearly the same patch, so usage alone overstates how much of the codebook works.
DUPLICATE_COSINE = 0.95
# `codes_for_coverage` reports how many codes cover this share of all tokens.
COVERAGE = 0.9


def codes_for_coverage(counts, coverage=COVERAGE):
    """The fewest codes whose occurrences add up to `coverage` of all tokens in `counts`."""
    counts = np.sort(np.asarray(counts))[::-1]
    total = counts.sum()
    if not total:
        return 0
    return int(np.searchsorted(np.cumsum(counts), coverage * total - 1e-9) + 1)


def codebook_redundancy(codebook, counts, threshold=DUPLICATE_COSINE):
    """How distinct the used codes are: `(distinct_codes, median_nearest_cosine)`.

    The used codes (`counts > 0`) are grouped greedily, most frequent first: a code joins the
    first group leader within cosine `threshold`, else it leads a group of its own;
    `distinct_codes` is the number of groups. `median_nearest_cosine` is the median over used
    codes of the cosine to the nearest other used code (nan with fewer than two).

    Args:
        codebook: `(num_codes, code_dim)` code vectors (normalized or not: cosines are taken).
        counts: `(num_codes,)` occurrences of each code.
        threshold: cosine above which two codes count as one.
    """
    # float32: the cosine matrix of 8192 used codes is 256 MB, twice that in float64.
    codebook = np.asarray(codebook, "float32")
    counts = np.asarray(counts)
    used = np.flatnonzero(counts > 0)
    used = used[np.argsort(-counts[used], kind="stable")]
    vectors = codebook[used]
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)
    cosines = vectors @ vectors.T
    leaders = []
    for i in range(len(used)):
        if not leaders or cosines[i, leaders].max() <= threshold:
            leaders.append(i)
    if len(used) < 2:
        return len(leaders), float("nan")
    np.fill_diagonal(cosines, -np.inf)
    return len(leaders), float(np.median(cosines.max(axis=1)))


class CodebookStatistics:
    """Code statistics of a whole dataset, accumulated batch by batch (numpy, any backend).

    `update(ids)` takes the token ids of a batch of images, `(B, ...)`; `result()` returns:

    - `codebook_usage`: the paper's usage (Table 4): the share of the codebook used by a batch
      of `usage_batch_size` (256) images, averaged over the consecutive full batches of 256 seen
      (images are regrouped, whatever the batches given to `update`; a remainder is left out);
      with fewer than 256 images in all, the share used by all of them;
    - `codebook_usage_batches`: the number of full 256-image batches averaged (0: fewer images);
    - `codebook_usage_total`: the share of codes used anywhere in the dataset;
    - `dead_codes`: the number of codes no image uses;
    - `perplexity`: `exp(entropy)` of the dataset's code histogram;
    - `codes_for_90_percent`: the fewest codes that cover 90% of all tokens;
    - with `codebook`: `distinct_code_usage`, the share of the codebook that stays used after
      merging codes within cosine 0.95 (see `codebook_redundancy`), and
      `median_nearest_code_cosine`, the median cosine of a used code to its nearest other
      used code (near 1: the used codes are mostly near-duplicates).

    Args:
        num_codes: codebook size.
        usage_batch_size: images per usage batch (256 in the paper).
        codebook: optional `(num_codes, code_dim)` code vectors for the redundancy measures.

    Example:

    >>> stats = keras_vim.metrics.CodebookStatistics(num_codes=4, usage_batch_size=2)
    >>> stats.update(np.array([[0, 0], [1, 1], [2, 2]]))
    >>> stats.result()["codebook_usage"], stats.result()["dead_codes"]
    (0.5, 1)
    """

    def __init__(self, num_codes, usage_batch_size=USAGE_BATCH, codebook=None):
        num_codes = check_integer("num_codes", num_codes, minimum=1)
        self.num_codes = num_codes
        self.usage_batch_size = check_integer("usage_batch_size", usage_batch_size, minimum=1)
        self.codebook = None if codebook is None else np.asarray(ops.convert_to_numpy(codebook))
        if self.codebook is not None and (
            self.codebook.ndim != 2 or self.codebook.shape[0] != num_codes
        ):
            raise ValueError(
                f"`codebook` must have shape ({num_codes}, code_dim), got {self.codebook.shape}."
            )
        self.counts = np.zeros(num_codes, "int64")
        self.usage_per_batch = []
        self._pending = []  # ids of images not yet in a full usage batch

    def update(self, ids):
        ids = np.asarray(ops.convert_to_numpy(ids))
        if ids.ndim < 1 or not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"`ids` must be an integer array (batch, ...), got {ids.dtype}.")
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_codes):
            raise ValueError(
                f"`ids` must be in [0, {self.num_codes - 1}], got [{ids.min()}, {ids.max()}]."
            )
        ids = ids.reshape(len(ids), -1)
        self.counts += np.bincount(ids.ravel(), minlength=self.num_codes)
        self._pending.extend(ids)
        while len(self._pending) >= self.usage_batch_size:
            group = np.asarray(self._pending[: self.usage_batch_size])
            self._pending = self._pending[self.usage_batch_size :]
            self.usage_per_batch.append(len(np.unique(group)) / self.num_codes)

    def result(self):
        total = int(self.counts.sum())
        probs = self.counts[self.counts > 0] / max(total, 1)
        used = int(np.count_nonzero(self.counts))
        if self.usage_per_batch:
            usage = float(np.mean(self.usage_per_batch))
        else:
            usage = used / self.num_codes
        result = {
            "codebook_usage": usage,
            "codebook_usage_batches": len(self.usage_per_batch),
            "codebook_usage_total": used / self.num_codes,
            "dead_codes": self.num_codes - used,
            "perplexity": float(np.exp(-np.sum(probs * np.log(probs)))) if total else 0.0,
            "codes_for_90_percent": codes_for_coverage(self.counts),
        }
        if self.codebook is not None:
            distinct, nearest = codebook_redundancy(self.codebook, self.counts)
            result["distinct_code_usage"] = distinct / self.num_codes
            result["median_nearest_code_cosine"] = nearest
        return result


def dead_codes(ids, num_codes):
    """The number of codes that none of `ids` (any shape) uses."""
    statistics = CodebookStatistics(num_codes)
    statistics.update(np.reshape(ops.convert_to_numpy(ids), (1, -1)))
    return statistics.result()["dead_codes"]
