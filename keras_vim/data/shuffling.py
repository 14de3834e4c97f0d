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

    def one_pass(pass_number):
        # The pass's seed is a tensor here, and TensorFlow's seed logic compares it with 0 in
        # Python when the global seed is 0 (`keras.utils.set_random_seed(0)`), which fails.
        # Without a graph-level seed the order depends on `seed` and the pass number alone.
        tf.compat.v1.get_default_graph().seed = None
        return dataset.shuffle(
            buffer_size, seed=seed * 1_000_003 + pass_number, reshuffle_each_iteration=False
        )

    passes = tf.data.Dataset.range(2**62).flat_map(one_pass)
    # Infinite, as `repeat()` would say: then batches get a static batch dimension.
    return passes.apply(tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY))
