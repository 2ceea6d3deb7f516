"""Keeps linear-space accumulators strictly positive (or any values above a floor)."""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.arguments import check_float


@keras.utils.register_keras_serializable(package="libspn_keras")
class GreaterEqualEpsilon(keras.constraints.Constraint):
    """Clips every value to at least ``epsilon``.

    Args:
        epsilon: Smallest value allowed, a finite number. Positive for
            linear-space weights (the default keeps them strictly
            positive); any floor suits unbounded parameters, as 0.6.0's
            ``GreaterEqualEpsilon(-2.0)`` on stored ``softplus^-1`` scales.
    """

    def __init__(self, epsilon=1e-10):
        self.epsilon = check_float("GreaterEqualEpsilon", "epsilon", epsilon)

    def __call__(self, w):
        return tf.maximum(w, tf.cast(self.epsilon, w.dtype))

    def get_config(self):
        return {"epsilon": self.epsilon}
