"""Whole-batch statistics under TensorFlow's MirroredStrategy, where each replica runs its own
copy of the train step on its share of the batch."""

import keras


def gather_replicas(x):
    """`x` with the rows (axis 0) of every replica, in replica order; `x` itself elsewhere.

    Only TensorFlow's `MirroredStrategy` (`keras_vim.distribution.configure("data")` on
    TensorFlow) splits the batch into per-replica programs. There, state computed from the batch
    (the quantizer's code usage and dead-code restarts, the codebook metrics) must see the whole
    batch, or the replicas' copies of that state drift apart. JAX's distributions compile one
    program over the global batch, and PyTorch runs on one device: nothing to gather.
    """
    if keras.backend.backend() != "tensorflow":
        return x
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return x
    gathered = context.all_gather(x, axis=0)
    if x.shape[0] is not None:
        # Keep the batch static, as it was for one replica (the restart's indexing needs it).
        gathered.set_shape((x.shape[0] * context.num_replicas_in_sync, *x.shape[1:]))
    return gathered


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
