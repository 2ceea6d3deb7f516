"""Cauchy leaves."""

import tensorflow_probability as tfp
from tensorflow import keras

from libspn_keras.layers.location_scale_leaf import LocationScaleLeafBase
from libspn_keras.math.densities import cauchy_log_prob


@keras.utils.register_keras_serializable(package="libspn_keras")
class CauchyLeaf(LocationScaleLeafBase):
    """Cauchy components (``tfp.distributions.Cauchy``) per variable; see :class:`LocationScaleLeafBase`.

    Input ``[batch, ..., d]``, output ``[batch, ..., num_components]``.
    """

    # A Cauchy distribution has no variance: with use_accumulators only its location is learned by EM.
    em_scale_supported = False

    def distribution(self, location, scale):
        return tfp.distributions.Cauchy(loc=location, scale=scale)

    def log_density(self, x, location, scale):
        return cauchy_log_prob(x, location, scale)
