"""Keeps values inside an interval."""

import math
import numbers

import numpy as np
import tensorflow as tf
from tensorflow import keras


def _bound(name, value):
    if value is None:
        return None
    if isinstance(value, (str, bytes, bool, np.bool_)) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise ValueError(f"Clip: {name} must be a number or None, got {value!r}.")
    return float(value)


@keras.utils.register_keras_serializable(package="libspn_keras")
class Clip(keras.constraints.Constraint):
    """Clips every value to ``[min, max]``.

    Useful for leaf scales (a floor against collapsing components and a
    ceiling against flat ones) or for bounding log-space accumulators. The
    arguments are 0.6.0's (``Clip(min, max=None)``); ``min_value`` and
    ``max_value`` are accepted as other names for them.

    Args:
        min: Lower bound, or ``None`` for none.
        max: Upper bound, or ``None`` for none; at least ``min``.
        min_value: Same as ``min`` (give one of the two).
        max_value: Same as ``max`` (give one of the two).
    """

    def __init__(self, min=None, max=None, min_value=None, max_value=None):
        if min is not None and min_value is not None:
            raise ValueError("Clip: give min or min_value, not both.")
        if max is not None and max_value is not None:
            raise ValueError("Clip: give max or max_value, not both.")
        self.min_value = _bound("min", min if min is not None else min_value)
        self.max_value = _bound("max", max if max is not None else max_value)
        if self.min_value is not None and self.max_value is not None and self.min_value > self.max_value:
            raise ValueError(f"Clip: min {self.min_value} is greater than max {self.max_value}.")

    @property
    def min(self):
        """The lower bound (``None`` for none)."""
        return self.min_value

    @property
    def max(self):
        """The upper bound (``None`` for none)."""
        return self.max_value

    def __call__(self, w):
        if self.min_value is not None:
            w = tf.maximum(w, tf.cast(self.min_value, w.dtype))
        if self.max_value is not None:
            w = tf.minimum(w, tf.cast(self.max_value, w.dtype))
        return w

    def get_config(self):
        return {"min": self.min_value, "max": self.max_value}
