"""Common base of the leaf layers, which turn raw inputs into log-probabilities per component."""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.validation import check_known, positive_int


def missing_value(dtype):
    """The input value every leaf reads as unobserved: NaN for floats, -1 for integers."""
    dtype = tf.as_dtype(dtype)
    return tf.constant(float("nan"), dtype) if dtype.is_floating else tf.constant(-1, dtype)


class LeafBase(keras.layers.Layer):
    """Input ``[batch, ..., d]`` -> log-probabilities ``[batch, ..., num_components]``.

    The last input axis holds the ``d`` dimensions of one variable (``d = 1``
    for univariate leaves); a multivariate leaf is a product (diagonal)
    distribution, so its log-probabilities are summed over ``d``. Unobserved
    entries (see :meth:`observed_mask`) contribute log-probability 0, which
    marginalizes them exactly. Subclasses implement
    :meth:`component_log_prob`.

    Args:
        num_components: Number of distributions per variable.
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    def __init__(self, num_components, **kwargs):
        super().__init__(**kwargs)
        self.num_components = positive_int(f"{type(self).__name__} '{self.name}'", "num_components", num_components)

    def build(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(
                f"{type(self).__name__} '{self.name}' expects input [batch, ..., d] with the dimensions of one "
                f"variable on the last axis; got shape {tuple(input_shape)}. Add a trailing axis of size 1 "
                f"for univariate data."
            )
        check_known(self, input_shape, range(1, len(input_shape)), "the variables")
        self.cells_shape = tuple(input_shape[1:-1])
        self.num_dims = input_shape[-1]

    def call(self, x):
        observed = self.observed_mask(x)
        safe_x = tf.where(observed, x, tf.zeros_like(x))
        log_prob = self.component_log_prob(tf.expand_dims(safe_x, axis=-2))
        log_prob = tf.where(tf.expand_dims(observed, axis=-2), log_prob, tf.zeros_like(log_prob))
        return tf.reduce_sum(log_prob, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.num_components,)

    def get_config(self):
        config = super().get_config()
        config.update(num_components=self.num_components)
        return config

    def observed_mask(self, x):
        """Boolean mask of the observed entries of ``x``; NaN means unobserved."""
        if x.dtype.is_floating:
            return tf.logical_not(tf.math.is_nan(x))
        return tf.ones_like(x, dtype=tf.bool)

    is_categorical = False

    def component_log_prob(self, x):
        """Log-probability of ``x`` ``[batch, ..., 1, d]`` under every component: ``[batch, ..., K, d]``."""
        raise NotImplementedError

    def component_mean(self):
        """Mean (or, where none exists, the centre) of every component, broadcastable to ``[*cells, K, d]``."""
        raise NotImplementedError

    def mode(self):
        """Most probable value of every component, broadcastable to ``[*cells, K, d]``."""
        raise NotImplementedError

    def mode_log_prob(self):
        """Log-density at the mode of every component, broadcastable to ``[*cells, K, d]``."""
        raise NotImplementedError

    def sample_components(self, num_samples, seed=None):
        """One draw from every component for each of ``num_samples``: ``[num_samples, *cells, K, d]``."""
        raise NotImplementedError
