"""Keeps linear-space accumulators strictly positive."""

import tensorflow as tf
from tensorflow import keras


@keras.utils.register_keras_serializable(package="libspn_keras")
class GreaterEqualEpsilon(keras.constraints.Constraint):
    """Clips every value to at least ``epsilon``.

    Args:
        epsilon: Smallest value allowed; must be positive.
    """

    def __init__(self, epsilon=1e-10):
        if not epsilon > 0:
            raise ValueError(f"GreaterEqualEpsilon: epsilon must be positive, got {epsilon}.")
        self.epsilon = float(epsilon)

    def __call__(self, w):
        return tf.maximum(w, tf.cast(self.epsilon, w.dtype))

    def get_config(self):
        return {"epsilon": self.epsilon}
