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
    The arguments are those of :class:`LocationScaleLeafBase`; the first six
    also by position, in 0.6.0's order for this leaf.
    """

    def __init__(
        self,
        num_components,
        location_initializer=None,
        location_trainable=True,
        scale_initializer=None,
        accumulator_initializer=None,
        use_accumulators=False,
        **kwargs,
    ):
        kwargs.update(
            location_initializer=location_initializer,
            location_trainable=location_trainable,
            scale_initializer=scale_initializer,
            accumulator_initializer=accumulator_initializer,
            use_accumulators=use_accumulators,
        )
        super().__init__(num_components, **kwargs)

    def distribution(self, location, scale):
        return tfp.distributions.Laplace(loc=location, scale=scale)

    def log_density(self, x, location, scale):
        return laplace_log_prob(x, location, scale)

    def scale_from_variance(self, variance):
        return tf.sqrt(variance / 2.0)

    def variance_from_scale(self, scale):
        return 2.0 * tf.square(scale)
