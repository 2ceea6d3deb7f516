"""Indicator leaves for categorical inputs."""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.base_leaf import LeafBase, holds_missing_marker


@keras.utils.register_keras_serializable(package="libspn_keras")
class IndicatorLeaf(LeafBase):
    """One indicator per category: log-probability 0 for the observed category, ``-inf`` otherwise.

    Input ``[batch, ..., d]`` of categories in ``[0, num_components)``, output
    ``[batch, ..., num_components]``. Signed integer inputs mark a missing
    entry with ``-1``; float inputs with ``NaN`` or ``-1.0``. Any other value
    (a category ``>= num_components``, another negative number, a float with
    a fraction, ``inf``) is refused: ``ValueError`` eagerly,
    ``tf.errors.InvalidArgumentError`` inside ``tf.function`` (read as
    missing under XLA, which drops assertions). Unsigned and bool inputs
    cannot hold ``-1``: every entry is observed (a ``-1`` written into a
    ``uint8`` array reads 255, a refused category unless there are 256);
    the model queries mark missing entries in a signed dtype holding -1
    for such models (``int32``; ``int64`` for 32 and 64 bits),
    and the SPN models read float data for an unsigned or bool input with
    ``NaN`` and ``-1.0`` as missing entries.

    Args:
        num_components: Number of categories.
        dtype: 0.6.0's argument (its default ``tf.int32``): the dtype of the
            categories read. Any input dtype above is read anyway; an integer
            or bool ``dtype`` is therefore ignored, and the layer computes its
            log-probabilities in floats. A float ``dtype`` sets the layer's
            dtype as for any Keras layer.
        **kwargs: Passed to :class:`~libspn_keras.layers.LeafBase`.
    """

    # An integer or bool ``dtype`` names the categories read and is dropped before Keras sees it; any other must be a
    # float, as for the other leaves.
    computes_in_floats = True

    def __init__(self, num_components, dtype=None, **kwargs):
        super().__init__(num_components, dtype=None if _names_categories(dtype) else dtype, **kwargs)

    def call(self, x):
        # One one-hot per entry; missing entries (and, under XLA, refused ones) give 0 for every category.
        x = self.checked_input(x)
        usable = self.usable_mask(x)
        categories = tf.cast(tf.where(usable, x, tf.zeros_like(x)), tf.int32)
        log_prob = tf.one_hot(
            categories, self.num_components, on_value=0.0, off_value=-float("inf"), dtype=self.compute_dtype
        )
        log_prob = tf.where(tf.expand_dims(usable, -1), log_prob, tf.zeros_like(log_prob))
        if log_prob.shape[-2] == 1:
            return tf.squeeze(log_prob, axis=-2)
        return tf.reduce_sum(log_prob, axis=-2)

    @property
    def input_contract(self):
        return (
            f"Accepted: integer categories 0 to {self.num_components - 1}; -1 (or NaN for float input) marks a "
            f"missing value (marginalized). Recode the data or raise num_components."
        )

    def convert_input(self, x):
        # Bool categories are 0 and 1; unsigned ones are read in their own dtype (they cannot hold the marker).
        return tf.cast(x, tf.int32) if x.dtype == tf.bool else x

    def observed_mask(self, x):
        if not holds_missing_marker(x.dtype):
            return tf.ones_like(x, dtype=tf.bool)
        missing = tf.equal(x, tf.constant(-1, x.dtype))
        if x.dtype.is_floating:
            missing = tf.logical_or(missing, tf.math.is_nan(x))
        return tf.logical_not(missing)

    def usable_mask(self, x):
        if x.dtype == tf.bool:
            return tf.ones_like(x, dtype=tf.bool)
        valid = tf.ones_like(x, dtype=tf.bool) if x.dtype.is_unsigned else x >= tf.constant(0, x.dtype)
        if not x.dtype.is_integer or self.num_components <= x.dtype.max:
            valid = tf.logical_and(valid, x < tf.constant(self.num_components, x.dtype))
        if x.dtype.is_floating:
            valid = tf.logical_and(valid, tf.equal(x, tf.floor(x)))
        return valid

    def invalid_entries(self, x):
        return tf.logical_not(tf.logical_or(self.usable_mask(x), tf.logical_not(self.observed_mask(x))))

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


def _names_categories(dtype):
    """Whether ``dtype`` is an integer or bool dtype (0.6.0's way of naming the input's dtype)."""
    try:
        dtype = tf.as_dtype(dtype)
    except (TypeError, ValueError):
        return False  # a Keras dtype policy or its config: the layer's own dtype
    return dtype.is_integer or dtype == tf.bool
