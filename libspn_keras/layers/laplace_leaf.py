"""Laplace leaves."""

import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow import keras

from libspn_keras.layers.location_scale_leaf import LocationScaleLeafBase
from libspn_keras.math.densities import laplace_log_prob


@keras.utils.register_keras_serializable(package="libspn_keras")
class LaplaceLeaf(LocationScaleLeafBase):
    """Laplace components (``tfp.distributions.Laplace``) per variable; see :class:`LocationScaleLeafBase`.

    Input ``[batch, ..., d]``, output ``[batch, ..., num_components]``.
    """

    def distribution(self, location, scale):
        return tfp.distributions.Laplace(loc=location, scale=scale)

    def log_density(self, x, location, scale):
        return laplace_log_prob(x, location, scale)

    def scale_from_variance(self, variance):
        return tf.sqrt(variance / 2.0)

    def variance_from_scale(self, scale):
        return 2.0 * tf.square(scale)
