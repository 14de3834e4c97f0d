"""Shuffling and repeating that a resumed training run can replay exactly."""


def shuffle_and_repeat(dataset, shuffle, buffer_size, seed, repeat):
    """Shuffles (with `seed`) and optionally repeats `dataset` forever.

    A seeded, repeated dataset gives every pass over the data its own order, fixed by the seed
    and the pass number alone. tf.data's `reshuffle_each_iteration` instead advances a seed
    that all iterators of a dataset share, and `fit` makes more than one: a restarted run
    that skips the batches it already trained on (`keras_vim.training.fit_resumable`) would
    see other data than the uninterrupted run did.
    """
    import tensorflow as tf

    if not shuffle:
        return dataset.repeat() if repeat else dataset
    if not repeat or seed is None:
        return dataset.shuffle(buffer_size, seed=seed, reshuffle_each_iteration=True)
    seed = tf.constant(seed, tf.int64)
    passes = tf.data.Dataset.range(2**62).flat_map(
        lambda pass_number: dataset.shuffle(
            buffer_size, seed=seed * 1_000_003 + pass_number, reshuffle_each_iteration=False
        )
    )
    # Infinite, as `repeat()` would say: then batches get a static batch dimension.
    return passes.apply(tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY))
