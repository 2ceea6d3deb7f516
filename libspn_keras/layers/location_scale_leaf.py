"""Base of the leaves of a location-scale family from ``tensorflow_probability``."""

import importlib

import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow import keras

from libspn_keras.constraints.greater_equal_epsilon import GreaterEqualEpsilon
from libspn_keras.layers.base_leaf import LeafBase
from libspn_keras.layers.initial_checks import checked_initializer
from libspn_keras.layers.validation import check_bool, keras_object, layer_label
from libspn_keras.math.em_roles import leaf_counts, leaf_moments, pack_leaf_statistics, tag_leaf_statistics
from libspn_keras.math.gradients import custom_gradient

# 0.6.0's floor of a stored trainable scale softplus^-1(scale): the scale stays >= softplus(-2) ~ 0.127 after steps.
_RAW_SCALE_FLOOR = -2.0


def _statistics_log_prob(leaf):
    """``log_prob(x, statistics)`` whose backward pass hands responsibility-weighted moments to the statistics."""

    @custom_gradient
    def log_prob(x, statistics):
        mean = tf.cast(leaf_moments(statistics)[0], x.dtype)
        value = leaf.log_density(x, mean, _scale_of_statistics(leaf, statistics, x.dtype))

        def grad(dy):
            # Moments about the current means, in float64 (see libspn_keras.math.em_roles.leaf_counts).
            return tf.zeros_like(x), tf.cast(leaf_counts(dy, x, leaf_moments(statistics)[0]), statistics.dtype)

        return value, grad

    return log_prob


def _scale_of_statistics(leaf, statistics, dtype):
    """Scales from the stored moments, the square root taken in their float64 before the cast to ``dtype``.

    A variance beyond float32's range (a scale above about 1.8e19) would
    otherwise become ``inf`` first, and every density 0 (or NaN for Cauchy
    components).
    """
    variance = tf.maximum(leaf_moments(statistics)[1], 0.0)
    return leaf.scale_constraint(tf.cast(leaf.scale_from_variance(variance), dtype))


def _softplus_inverse_of(initializer):
    """``softplus^-1`` of the values of ``initializer`` (checked scales), without loss for tiny and huge ones."""

    def initialize(shape, dtype=None):
        scale = tf.convert_to_tensor(initializer(shape, dtype=dtype))
        # tfp's inverse is log(x) for tiny x and x for large x; in float64 for one rounding only.
        raw = tfp.math.softplus_inverse(tf.cast(scale, tf.float64))
        return tf.cast(raw, scale.dtype)

    return initialize


class LocationScaleLeafBase(LeafBase):
    """Leaves with a location and a scale per variable cell, component and dimension.

    Parameters have shape ``[*cells, num_components, d]`` for input
    ``[batch, *cells, d]``: separate for every cell, as in the DGC-SPN, where
    a ``(28, 28, 1)`` input with 16 components holds 12,544 locations.
    Subclasses name the distribution in :meth:`distribution`; one written for
    0.6.0, naming it in ``_build_distribution_from_loc_and_scale(loc, scale)``,
    works unchanged (its modes are the locations).

    Args:
        num_components: Number of distributions per variable.
        location_initializer: Initializer of the locations; default
            ``TruncatedNormal(mean=0, stddev=1)``.
        location_trainable: Whether the locations are trained.
        scale_initializer: Initializer of the scales; default ones.
        scale_trainable: Whether the scales are trained. Without
            ``use_accumulators`` a trainable scale is stored as 0.6.0 stores
            it: the variable ``scale`` holds ``softplus^-1(scale)``, kept
            ``>= -2`` after every optimizer step (so the scale stays at least
            ``softplus(-2)`` ~ 0.127), and the scale is ``softplus`` of it;
            gradient steps and ``get_weights``/``set_weights`` lists are
            0.6.0's. A fixed scale (the default) is stored as the scale.
        scale_constraint: Constraint of the scales; default ``>= 1e-4``.
            Applied to the scale whenever it is read (after the ``softplus``
            of a trainable one, as in 0.6.0), so also to values set by
            ``assign`` or ``set_weights``; it is the variable's constraint of
            a fixed scale. It also applies to the initial scales (with a
            warning when it repairs an invalid one, such as 0; small positive
            scales are raised to the bound silently); initial scales that are
            still not positive normal numbers, or non-finite initial
            locations, raise ``ValueError``.
        use_accumulators: Keep the parameters as EM sufficient statistics
            ``statistics`` ``[*cells, num_components, d, 3]`` (float64, so that
            variances of data far from 0 keep their precision) holding
            ``n * (1, mean, variance)``, whose backward pass delivers the
            responsibility-weighted moments of the batch about the current
            means (:mod:`libspn_keras.math.em_roles`), for
            :class:`~libspn_keras.optimizers.OnlineExpectationMaximization`.
            The M-step sets the location to the responsibility-weighted mean
            (exact for Normal leaves) and, when ``scale_trainable``, the scale
            from the weighted variance; ``location_trainable=False`` keeps
            the locations fixed. For the other leaves this is moment
            matching, not their maximum-likelihood step (for a Laplace leaf
            a weighted median and mean absolute deviation), so only for
            Normal leaves is each EM step guaranteed to raise the likelihood.
        accumulator_initializer: With ``use_accumulators``, the initial
            count (weight) of the statistics of every component, default ones
            (0.6.0's initial moment denominators): the larger, the less the
            first EM steps move the initial locations and scales.
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    computes_in_floats = True

    def __init__(
        self,
        num_components,
        location_initializer=None,
        location_trainable=True,
        scale_initializer=None,
        scale_trainable=False,
        accumulator_initializer=None,
        use_accumulators=False,
        scale_constraint=None,
        **kwargs,
    ):
        super().__init__(num_components, **kwargs)
        label = layer_label(self)
        self.location_initializer = keras_object(
            label,
            "location_initializer",
            "initializer",
            location_initializer
            if location_initializer is not None
            else keras.initializers.TruncatedNormal(mean=0.0, stddev=1.0),
        )
        self.location_trainable = check_bool(label, "location_trainable", location_trainable)
        self.scale_initializer = keras_object(
            label, "scale_initializer", "initializer", scale_initializer if scale_initializer is not None else "ones"
        )
        self.scale_trainable = check_bool(label, "scale_trainable", scale_trainable)
        self.scale_constraint = keras_object(
            label,
            "scale_constraint",
            "constraint",
            scale_constraint if scale_constraint is not None else GreaterEqualEpsilon(1e-4),
        )
        self.use_accumulators = check_bool(label, "use_accumulators", use_accumulators)
        self.accumulator_initializer = keras_object(
            label,
            "accumulator_initializer",
            "initializer",
            accumulator_initializer if accumulator_initializer is not None else "ones",
        )
        if self.use_accumulators and self.scale_trainable and not self.em_scale_supported:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': its scale has no EM estimate from moments; with "
                f"use_accumulators=True set scale_trainable=False."
            )

    em_scale_supported = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "_build_distribution_from_loc_and_scale" in cls.__dict__ and "distribution" not in cls.__dict__:
            # 0.6.0's hook names the distribution; the densities then come from it, not from a parent's formula.
            cls.distribution = _distribution_of_060_hook
            cls.log_density = LocationScaleLeafBase.log_density

    def build(self, input_shape):
        super().build(input_shape)
        shape = tuple(input_shape[1:-1]) + (self.num_components, input_shape[-1])
        if self.use_accumulators:
            self._build_statistics(shape)
            return
        self.location = self.add_weight(
            name="location",
            shape=shape,
            initializer=self._checked_location_initializer(),
            trainable=self.location_trainable,
        )
        # A trainable scale is stored as 0.6.0 stores it: softplus^-1(scale), kept >= -2 (scale >= softplus(-2)
        # ~ 0.127); a fixed one as the scale, under its constraint.
        raw = self.stores_softplus_inverse_scale
        scale_initializer = self._checked_scale_initializer()
        self.scale = self.add_weight(
            name="scale",
            shape=shape,
            initializer=_softplus_inverse_of(scale_initializer) if raw else scale_initializer,
            constraint=GreaterEqualEpsilon(_RAW_SCALE_FLOOR) if raw else self.scale_constraint,
            trainable=raw,
        )

    @property
    def stores_softplus_inverse_scale(self):
        """Whether the ``scale`` variable holds ``softplus^-1(scale)`` (trainable scales without EM statistics)."""
        return self.scale_trainable and not self.use_accumulators

    def _checked_location_initializer(self):
        return checked_initializer(
            self.location_initializer,
            layer_label(self),
            "location",
            fix="Pass a location_initializer giving finite values.",
        )

    def _checked_scale_initializer(self):
        return checked_initializer(
            self.scale_initializer,
            layer_label(self),
            "scale",
            constraint=self.scale_constraint,
            positive=True,
            fix="Pass a scale_initializer giving positive values (e.g. 'ones').",
        )

    def _build_statistics(self, shape):
        location_initializer = self._checked_location_initializer()
        scale_initializer = self._checked_scale_initializer()

        count_initializer = checked_initializer(
            self.accumulator_initializer,
            layer_label(self),
            "statistics",
            positive=True,
            fix="Pass an accumulator_initializer giving positive counts (e.g. 'ones').",
        )

        def initializer(shape, dtype=None):
            location = location_initializer(shape[:-1], dtype=dtype)
            variance = self.variance_from_scale(scale_initializer(shape[:-1], dtype=dtype))
            count = tf.expand_dims(tf.cast(count_initializer(shape[:-1], dtype=dtype), location.dtype), -1)
            return pack_leaf_statistics(location, variance) * count

        # Trainable when EM updates a part of them, as 0.6.0's moment accumulators were.
        self.statistics = self.add_weight(
            name="statistics",
            shape=shape + (3,),
            initializer=initializer,
            dtype="float64",
            trainable=self.location_trainable or self.scale_trainable,
        )
        tag_leaf_statistics(self.statistics, self.name, self.location_trainable, self.scale_trainable)

    def component_log_prob(self, x):
        if self.use_accumulators:
            return _statistics_log_prob(self)(x, tf.convert_to_tensor(self.statistics))
        return self.log_density(x, self.location_tensor(), self.scale_tensor())

    @property
    def loc(self):
        """0.6.0's name of the ``location`` variable (of leaves without EM statistics, as in 0.6.0)."""
        if self.use_accumulators:
            raise AttributeError(
                f"{layer_label(self)}: with use_accumulators=True the locations live in the EM statistics (as in "
                "0.6.0, which had no loc then either); read location_tensor()."
            )
        return self.location

    def location_tensor(self):
        """Locations ``[*cells, num_components, d]``."""
        if self.use_accumulators:
            return tf.cast(leaf_moments(tf.convert_to_tensor(self.statistics))[0], self.compute_dtype)
        return tf.convert_to_tensor(self.location)

    def scale_tensor(self):
        """Scales ``[*cells, num_components, d]``."""
        if self.use_accumulators:
            return _scale_of_statistics(self, tf.convert_to_tensor(self.statistics), self.compute_dtype)
        scale = tf.convert_to_tensor(self.scale)
        if self.stores_softplus_inverse_scale:
            scale = tf.math.softplus(scale)
        # Applied when read, as in 0.6.0: also to values set by assign / set_weights.
        return self.scale_constraint(scale)

    def get_config(self):
        config = super().get_config()
        config.update(
            location_initializer=keras.initializers.serialize(self.location_initializer),
            location_trainable=self.location_trainable,
            scale_initializer=keras.initializers.serialize(self.scale_initializer),
            scale_trainable=self.scale_trainable,
            scale_constraint=keras.constraints.serialize(self.scale_constraint),
            accumulator_initializer=keras.initializers.serialize(self.accumulator_initializer),
            use_accumulators=self.use_accumulators,
        )
        return config

    def distribution(self, location, scale):
        """A ``tfp.distributions`` object with the given ``location`` and ``scale``."""
        raise NotImplementedError

    def log_density(self, x, location, scale):
        """Log-density of the components at ``x``; subclasses give a cancellation-free formula."""
        return self.distribution(location, scale).log_prob(x)

    def scale_from_variance(self, variance):
        """Scale of the distribution with the given variance (moment matching)."""
        return tf.sqrt(variance)

    def variance_from_scale(self, scale):
        """Inverse of :meth:`scale_from_variance`."""
        return tf.square(scale)

    def component_mean(self):
        # The location is the mean of Normal and Laplace components and the median of Cauchy ones.
        return self.location_tensor()

    def mode(self):
        return self.location_tensor()

    def component_cdf(self, x):
        """Cumulative distribution of every component at ``x`` ``[batch, *cells, d]``: ``[batch, *cells, K, d]``."""
        x = tf.expand_dims(tf.convert_to_tensor(x, dtype=self.compute_dtype), axis=-2)
        return self.distribution(self.location_tensor(), self.scale_tensor()).cdf(x)

    def mode_log_prob(self):
        location = self.location_tensor()
        return self.log_density(location, location, self.scale_tensor())

    def sample_components(self, num_samples, seed=None):
        return self.distribution(self.location_tensor(), self.scale_tensor()).sample(num_samples, seed=seed)


_LEAVES_BY_060_PATH = {
    "NormalLeaf": "libspn_keras.layers.normal_leaf",
    "LaplaceLeaf": "libspn_keras.layers.laplace_leaf",
    "CauchyLeaf": "libspn_keras.layers.cauchy_leaf",
}


def __getattr__(name):
    """0.6.0 defined its three leaves in this module (``from libspn_keras.layers.location_scale_leaf import
    NormalLeaf``); here each has its own file, which imports this one, so they are looked up when asked for."""
    if name in _LEAVES_BY_060_PATH:
        return getattr(importlib.import_module(_LEAVES_BY_060_PATH[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _distribution_of_060_hook(leaf, location, scale):
    """``distribution`` of a leaf written for 0.6.0: what its ``_build_distribution_from_loc_and_scale`` builds."""
    return leaf._build_distribution_from_loc_and_scale(loc=location, scale=scale)
