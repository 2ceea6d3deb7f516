"""Reading log-probabilities from what a ``RootSum`` returns."""

import math

import tensorflow as tf

from libspn_keras.math.stable import log_sum_exp, without_gradient_where_impossible


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


def log_joint_from_root(y_true, y_pred, owner="NegativeLogJoint"):
    """``log p(x, y)`` ``[batch]`` for integer labels ``y_true`` from class-root logits ``[batch, classes]``.

    Labels with more than one entry per sample (e.g. one-hot rows) raise a
    ``ValueError`` naming ``owner``: read as a flat list of class indices
    they would pick other samples' logits. A sample of probability 0 gives
    ``-inf`` and no gradient (no EM counts).
    """
    shape = tf.TensorShape(getattr(y_true, "shape", None))
    per_sample = shape[1:] if shape.rank else tf.TensorShape([])
    if per_sample.is_fully_defined() and math.prod(per_sample.as_list()) != 1:
        raise ValueError(
            f"{owner}: labels must be integer class indices of shape [batch] (or [batch, 1]), got labels of shape "
            f"{tuple(y_true.shape)} for class roots of shape {tuple(y_pred.shape)}; for one-hot labels pass "
            "their argmax over the last axis."
        )
    # Each sample's first label: the same as all of them for labels of one per sample, and of the batch's shape
    # whatever a traced step's unknown label shape turns out to be (the SPN models refuse other batches first).
    labels = tf.reshape(tf.cast(y_true, tf.int32), tf.stack([tf.shape(y_pred)[0], -1]))[:, 0]
    # A sample of probability 0 under its class adds nothing, as in log_likelihood_from_root.
    return without_gradient_where_impossible(tf.gather(y_pred, labels, axis=-1, batch_dims=1))
