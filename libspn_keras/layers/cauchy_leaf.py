"""Cauchy leaves."""

import tensorflow_probability as tfp
from tensorflow import keras

from libspn_keras.layers.location_scale_leaf import LocationScaleLeafBase
from libspn_keras.math.densities import cauchy_log_prob


@keras.utils.register_keras_serializable(package="libspn_keras")
class CauchyLeaf(LocationScaleLeafBase):
    """Cauchy components (``tfp.distributions.Cauchy``) per variable; see :class:`LocationScaleLeafBase`.

    Input ``[batch, ..., d]``, output ``[batch, ..., num_components]``.
    The arguments are those of :class:`LocationScaleLeafBase`, by position in
    0.6.0's order for this leaf.
    """

    def __init__(
        self,
        num_components,
        location_initializer=None,
        location_trainable=True,
        scale_initializer=None,
        accumulator_initializer=None,
        use_accumulators=False,
        scale_trainable=False,
        **kwargs,
    ):
        kwargs.update(
            location_initializer=location_initializer,
            location_trainable=location_trainable,
            scale_initializer=scale_initializer,
            accumulator_initializer=accumulator_initializer,
            use_accumulators=use_accumulators,
            scale_trainable=scale_trainable,
        )
        super().__init__(num_components, **kwargs)

    # A Cauchy distribution has no variance: with use_accumulators only its location is learned by EM.
    em_scale_supported = False

    def distribution(self, location, scale):
        return tfp.distributions.Cauchy(loc=location, scale=scale)

    def log_density(self, x, location, scale):
        return cauchy_log_prob(x, location, scale)
