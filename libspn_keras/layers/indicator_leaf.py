"""Indicator leaves for categorical inputs."""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.base_leaf import LeafBase


@keras.utils.register_keras_serializable(package="libspn_keras")
class IndicatorLeaf(LeafBase):
    """One indicator per category: log-probability 0 for the observed category, ``-inf`` otherwise.

    Input ``[batch, ..., d]`` of integer categories in ``[0, num_components)``
    (floats are accepted and rounded), output ``[batch, ..., num_components]``.
    A negative value or NaN marks the entry as unobserved. A category of
    ``num_components`` or more has probability 0 (``-inf`` for every
    component); the model queries reject such inputs with a ``ValueError``.

    Args:
        num_components: Number of categories.
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    def call(self, x):
        # One one-hot per entry, with unobserved entries (negative or NaN) marginalized to 0 for every category.
        missing = tf.logical_not(self.observed_mask(x))
        if x.dtype.is_floating:
            x = tf.where(missing, tf.zeros_like(x), tf.round(x))
        categories = tf.cast(x, tf.int32)
        log_prob = tf.one_hot(
            categories, self.num_components, on_value=0.0, off_value=-float("inf"), dtype=self.compute_dtype
        )
        log_prob = tf.where(tf.expand_dims(missing, -1), tf.zeros_like(log_prob), log_prob)
        if log_prob.shape[-2] == 1:
            return tf.squeeze(log_prob, axis=-2)
        return tf.reduce_sum(log_prob, axis=-2)

    def observed_mask(self, x):
        observed = x >= 0
        if x.dtype.is_floating:
            observed = tf.logical_and(observed, tf.logical_not(tf.math.is_nan(x)))
        return observed

    def component_log_prob(self, x):
        categories = tf.range(self.num_components, dtype=tf.int32)[:, None]
        matches = tf.equal(tf.cast(tf.round(tf.cast(x, tf.float32)), tf.int32), categories)
        return tf.where(matches, tf.constant(0.0, self.compute_dtype), tf.constant(-float("inf"), self.compute_dtype))

    is_categorical = True

    def component_mean(self):
        return self.mode()

    def mode(self):
        """Category of every component, ``[num_components, 1]``."""
        return tf.range(self.num_components, dtype=self.compute_dtype)[:, None]

    def mode_log_prob(self):
        return tf.zeros([self.num_components, 1], dtype=self.compute_dtype)

    def sample_components(self, num_samples, seed=None):
        return tf.broadcast_to(self.mode(), (num_samples, *self.cells_shape, self.num_components, self.num_dims))
