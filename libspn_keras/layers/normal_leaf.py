"""Gaussian leaves."""

import tensorflow_probability as tfp
from tensorflow import keras

from libspn_keras.layers.location_scale_leaf import LocationScaleLeafBase
from libspn_keras.math.densities import normal_log_prob


@keras.utils.register_keras_serializable(package="libspn_keras")
class NormalLeaf(LocationScaleLeafBase):
    """Gaussian components (``tfp.distributions.Normal``) per variable; see :class:`LocationScaleLeafBase`.

    Input ``[batch, ..., d]``, output ``[batch, ..., num_components]``.
    """

    def distribution(self, location, scale):
        return tfp.distributions.Normal(loc=location, scale=scale)

    def log_density(self, x, location, scale):
        return normal_log_prob(x, location, scale)
