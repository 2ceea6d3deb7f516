"""Keeps linear-space accumulators positive and normalized."""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.arguments import check_float, check_int
from libspn_keras.constraints.axis import check_axis


@keras.utils.register_keras_serializable(package="libspn_keras")
class GreaterEqualEpsilonNormalized(keras.constraints.Constraint):
    """Clips every value to at least ``epsilon / n``, then divides by the total over ``axis``.

    ``n`` is the size of ``axis`` (the number of children), as in 0.6.0. For
    linear-space accumulators ``[*lead, children, sums]`` this keeps every
    sum's weights a proper distribution over its children (each slice along
    ``axis`` sums to 1). The clip comes first, so a normalized value can end
    up slightly below ``epsilon / n`` when the clipped total exceeds 1. As in
    libspn-keras 0.6.0 (its default), the sum layers then differentiate the
    weights themselves rather than their normalization, and this constraint
    projects back after each step (see the guide on log-space accumulators).

    Args:
        epsilon: Smallest value kept before normalizing, ``>= 0``. ``0``
            (accepted by 0.6.0 as well) only clips negative values to 0, so a
            sum whose weights are all 0 has no distribution (NaN, as in 0.6.0).
        axis: Axis to normalize over; default the children axis ``-2``.
    """

    keeps_normalized = True  # read by libspn_keras.sum_ops.base.kept_normalized: 0.6.0's gradient

    def __init__(self, epsilon=1e-10, axis=-2):
        # 0.6.0 took any number; a negative floor would let negative weights through, which are no distribution.
        self.epsilon = check_float("GreaterEqualEpsilonNormalized", "epsilon", epsilon, minimum=0.0)
        self.axis = check_int("GreaterEqualEpsilonNormalized", "axis", axis)

    def __call__(self, w):
        check_axis("GreaterEqualEpsilonNormalized", self.axis, w)
        size = tf.cast(tf.shape(w)[self.axis], w.dtype)
        clipped = tf.maximum(w, tf.cast(self.epsilon, w.dtype) / size)
        return clipped / tf.reduce_sum(clipped, axis=self.axis, keepdims=True)

    def get_config(self):
        return {"epsilon": self.epsilon, "axis": self.axis}
