"""Base of the leaves of a location-scale family from ``tensorflow_probability``."""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.constraints.greater_equal_epsilon import GreaterEqualEpsilon
from libspn_keras.layers.base_leaf import LeafBase

LEAF_LOCATION_ROLE = "leaf_location"
LEAF_SCALE_ROLE = "leaf_scale"


class LocationScaleLeafBase(LeafBase):
    """Leaves with a location and a scale per variable cell, component and dimension.

    Parameters have shape ``[*cells, num_components, d]`` for input
    ``[batch, *cells, d]``: separate for every cell, as in the DGC-SPN, where
    a ``(28, 28, 1)`` input with 16 components holds 12,544 locations.
    Subclasses name the distribution in :meth:`distribution`.

    Args:
        num_components: Number of distributions per variable.
        location_initializer: Initializer of the locations; default
            ``TruncatedNormal(mean=0, stddev=1)``.
        location_trainable: Whether the locations are trained.
        scale_initializer: Initializer of the scales; default ones.
        scale_trainable: Whether the scales are trained.
        scale_constraint: Constraint of the scales; default ``>= 1e-4``.
        use_accumulators: Mark the parameters for EM updates by
            :class:`~libspn_keras.optimizers.OnlineExpectationMaximization`.
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    def __init__(
        self,
        num_components,
        location_initializer=None,
        location_trainable=True,
        scale_initializer=None,
        scale_trainable=False,
        scale_constraint=None,
        use_accumulators=False,
        **kwargs,
    ):
        super().__init__(num_components, **kwargs)
        self.location_initializer = keras.initializers.get(
            location_initializer
            if location_initializer is not None
            else keras.initializers.TruncatedNormal(mean=0.0, stddev=1.0)
        )
        self.location_trainable = bool(location_trainable)
        self.scale_initializer = keras.initializers.get(scale_initializer if scale_initializer is not None else "ones")
        self.scale_trainable = bool(scale_trainable)
        self.scale_constraint = keras.constraints.get(
            scale_constraint if scale_constraint is not None else GreaterEqualEpsilon(1e-4)
        )
        self.use_accumulators = bool(use_accumulators)

    def build(self, input_shape):
        super().build(input_shape)
        shape = tuple(input_shape[1:-1]) + (self.num_components, input_shape[-1])
        self.location = self.add_weight(
            name="location", shape=shape, initializer=self.location_initializer, trainable=self.location_trainable
        )
        self.scale = self.add_weight(
            name="scale",
            shape=shape,
            initializer=self.scale_initializer,
            constraint=self.scale_constraint,
            trainable=self.scale_trainable,
        )
        if self.use_accumulators:
            self.location.spn_role = LEAF_LOCATION_ROLE
            self.scale.spn_role = LEAF_SCALE_ROLE

    def component_log_prob(self, x):
        return self.distribution(tf.convert_to_tensor(self.location), tf.convert_to_tensor(self.scale)).log_prob(x)

    def get_config(self):
        config = super().get_config()
        config.update(
            location_initializer=keras.initializers.serialize(self.location_initializer),
            location_trainable=self.location_trainable,
            scale_initializer=keras.initializers.serialize(self.scale_initializer),
            scale_trainable=self.scale_trainable,
            scale_constraint=keras.constraints.serialize(self.scale_constraint),
            use_accumulators=self.use_accumulators,
        )
        return config

    def distribution(self, location, scale):
        """A ``tfp.distributions`` object with the given ``location`` and ``scale``."""
        raise NotImplementedError

    def mode(self):
        """Most probable value of every component, ``[*cells, num_components, d]``."""
        return tf.convert_to_tensor(self.location)
