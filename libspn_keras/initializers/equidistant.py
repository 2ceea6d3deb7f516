"""Leaf locations spread evenly over an interval."""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.arguments import check_float


@keras.utils.register_keras_serializable(package="libspn_keras")
class Equidistant(keras.initializers.Initializer):
    """Leaf locations ``[*cells, K, d]`` spaced evenly from ``minval`` to ``maxval`` over the components.

    Component ``k`` of every cell and dimension gets
    ``minval + (maxval - minval) * k / (K - 1)``; a single component
    (``K = 1``) sits at the midpoint ``(minval + maxval) / 2``.

    Args:
        minval: Location of the first component.
        maxval: Location of the last component.
    """

    def __init__(self, minval=0.0, maxval=1.0):
        # Finite numbers: a NaN or infinite end would put non-finite locations into the leaves.
        self.minval = check_float("Equidistant", "minval", minval)
        self.maxval = check_float("Equidistant", "maxval", maxval)

    def __call__(self, shape, dtype=None):
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError(f"Equidistant: expects a shape [*cells, num_components, d] of rank >= 2, got {shape}.")
        dtype = dtype or "float32"
        num_components = shape[-2]
        if num_components == 1:
            points = tf.constant([0.5 * (self.minval + self.maxval)], dtype=tf.float64)
        else:
            points = tf.linspace(tf.constant(self.minval, tf.float64), self.maxval, num_components)
        points = tf.reshape(tf.cast(points, dtype), (num_components, 1))
        return tf.broadcast_to(points, shape)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval}
