"""Negative log-likelihood of the inputs."""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.losses.root_outputs import keras_reduction, log_likelihood_from_root


@keras.utils.register_keras_serializable(package="libspn_keras")
class NegativeLogLikelihood(keras.losses.Loss):
    """``-log p(x)`` from a root's output; labels are ignored.

    Works with ``RootSum(return_weighted_child_logits=False)`` (``[batch, 1]``)
    and with class-root logits ``[batch, classes]``, whose log-sum-exp is
    ``log p(x)``.

    Args:
        reduction: Keras loss reduction; Keras 2's ``"auto"`` (0.6.0's default) means ``"sum_over_batch_size"``.
        name: Name of the loss.
    """

    def __init__(self, reduction="sum_over_batch_size", name="negative_log_likelihood", **kwargs):
        super().__init__(reduction=keras_reduction(reduction), name=name, **kwargs)

    def __call__(self, y_true, y_pred, sample_weight=None):
        if y_true is None:  # labels are ignored: 0.6.0's Keras 2 loss took None for them, which Keras 3 cannot read
            y_true = tf.zeros_like(y_pred)
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)

    def call(self, y_true, y_pred):
        return -log_likelihood_from_root(y_pred)
