"""Reading log-probabilities from what a ``RootSum`` returns."""

import tensorflow as tf

from libspn_keras.math.stable import log_sum_exp


def keras_reduction(reduction):
    """A Keras 3 loss reduction for ``reduction``, reading Keras 2's ``"auto"`` as it resolved it.

    0.6.0's losses were Keras 2 losses, whose ``reduction`` could be
    ``"auto"`` (``tf.keras.losses.Reduction.AUTO``, still defined), which
    meant ``"sum_over_batch_size"``; Keras 3 refuses it.
    """
    if isinstance(reduction, str) and reduction.lower() == "auto":
        return "sum_over_batch_size"
    return reduction


def log_likelihood_from_root(y_pred):
    """``log p(x)`` ``[batch]`` from ``[batch, 1]`` (``log p(x)``) or ``[batch, classes]`` (``log p(x, y)``).

    A sample of probability 0 gives ``-inf`` and no gradient (see
    :func:`~libspn_keras.math.stable.log_sum_exp`).
    """
    return log_sum_exp(y_pred, axis=-1)


def log_joint_from_root(y_true, y_pred):
    """``log p(x, y)`` ``[batch]`` for integer labels ``y_true`` from class-root logits ``[batch, classes]``."""
    labels = tf.reshape(tf.cast(y_true, tf.int32), [-1])
    return tf.gather(y_pred, labels, axis=-1, batch_dims=1)
