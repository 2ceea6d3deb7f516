"""Keeps values inside an interval."""

import tensorflow as tf
from tensorflow import keras


@keras.utils.register_keras_serializable(package="libspn_keras")
class Clip(keras.constraints.Constraint):
    """Clips every value to ``[min_value, max_value]``.

    Useful for leaf scales (a floor against collapsing components and a
    ceiling against flat ones) or for bounding log-space accumulators.

    Args:
        min_value: Lower bound, or ``None`` for none.
        max_value: Upper bound, or ``None`` for none; at least ``min_value``.
    """

    def __init__(self, min_value, max_value):
        self.min_value = None if min_value is None else float(min_value)
        self.max_value = None if max_value is None else float(max_value)
        if self.min_value is not None and self.max_value is not None and self.min_value > self.max_value:
            raise ValueError(f"Clip: min_value {self.min_value} is greater than max_value {self.max_value}.")

    def __call__(self, w):
        if self.min_value is not None:
            w = tf.maximum(w, tf.cast(self.min_value, w.dtype))
        if self.max_value is not None:
            w = tf.minimum(w, tf.cast(self.max_value, w.dtype))
        return w

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value}
