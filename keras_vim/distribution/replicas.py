"""Losses under TensorFlow's MirroredStrategy, where each replica runs its own copy of the
train step on its share of the batch (the whole-batch gather is
`keras_vim.backend_ops.gather_replicas`)."""

import keras


def scale_for_replicas(loss):
    """`loss / replicas` under a TensorFlow `MirroredStrategy` with several replicas, `loss`
    elsewhere.

    The strategy's optimizers sum the replicas' gradients, and each replica's loss is a mean
    over its share of the batch: divided by the number of replicas, the sum is the gradient of
    the global batch's mean. Keras' own `compute_loss` scales the same way, and its loss
    tracker multiplies back for the logs, so an overridden `compute_loss` must return this.
    """
    if keras.backend.backend() != "tensorflow":
        return loss
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss / replicas if replicas > 1 else loss
