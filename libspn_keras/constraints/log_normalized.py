"""Keeps log-space accumulators normalized."""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.arguments import check_int
from libspn_keras.constraints.axis import check_axis


@keras.utils.register_keras_serializable(package="libspn_keras")
class LogNormalized(keras.constraints.Constraint):
    """Subtracts the log-sum-exp over ``axis``, so the exponentiated values sum to 1 there.

    For log-space accumulators ``[*lead, children, sums]``: every sum's
    log-weights become the log of a proper distribution over its children,
    without changing the weights the forward pass computes (it normalizes
    over the same axis anyway). As in libspn-keras 0.6.0 (its default), the
    sum layers then differentiate the log-weights themselves rather than
    their softmax: the optimizer steps on that gradient and this constraint
    projects back. Step for step 0.6.0's training; on a likelihood it does
    not find the maximum (see the guide on log-space accumulators).

    Args:
        axis: Axis to normalize over; default the children axis ``-2``.
            ``None`` (0.6.0's ``Optional[int]``, which it handed to
            ``tf.nn.log_softmax``) is the last axis.
    """

    keeps_normalized = True  # read by libspn_keras.sum_ops.base.kept_normalized: 0.6.0's gradient

    def __init__(self, axis=-2):
        self.axis = check_int("LogNormalized", "axis", axis, allow_none=True)

    def __call__(self, w):
        axis = -1 if self.axis is None else self.axis
        check_axis("LogNormalized", axis, w)
        return w - tf.reduce_logsumexp(w, axis=axis, keepdims=True)

    def get_config(self):
        return {"axis": self.axis}
