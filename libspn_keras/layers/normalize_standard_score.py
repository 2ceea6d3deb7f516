"""Standard-score normalization of raw inputs, aware of missing values."""

import enum

import numpy as np
import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.base_leaf import as_float_with_missing
from libspn_keras.layers.cell_scopes import KeepsCellScopes, kept_cell_scopes
from libspn_keras.layers.full_precision import FullPrecisionLayer
from libspn_keras.layers.input_guard import guard_values
from libspn_keras.layers.validation import check_bool, check_float, layer_label

SAMPLE_WISE = "sample_wise"
VARIABLE_WISE = "variable_wise"
GLOBAL = "global"
_AXES = (SAMPLE_WISE, VARIABLE_WISE, GLOBAL)


class NormalizeAxes(enum.Enum):
    """The statistics :class:`NormalizeStandardScore` normalizes with (0.6.0's enumeration and values)."""

    SAMPLE_WISE = "sample-wise"
    """Every sample by its own mean and standard deviation."""
    VARIABLE_WISE = "variable-wise"
    """Every input position by its mean and standard deviation over the data (from ``adapt``)."""
    GLOBAL = "global"
    """All values by one mean and standard deviation over the data (from ``adapt``)."""


class _Axes(str):
    """A canonical axes name (``"sample_wise"``, ...) that also equals 0.6.0's spellings.

    0.6.0 kept the ``NormalizeAxes`` member in ``layer.axes``, so its scripts
    branch on ``layer.axes == NormalizeAxes.GLOBAL``; that comparison (either
    way round, and ``!=``), the hyphenated strings and the member's ``value``
    and ``name`` hold here too (``is`` and a dict keyed by members do not:
    the axes are a string, ``member`` gives the member).
    """

    def __eq__(self, other):
        if isinstance(other, NormalizeAxes):
            other = other.value
        if isinstance(other, str):
            return str.__eq__(self, other.replace("-", "_"))
        return NotImplemented

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = str.__hash__

    @property
    def member(self):
        """The :class:`NormalizeAxes` member of these axes."""
        return next(member for member in NormalizeAxes if member.value.replace("-", "_") == self)

    @property
    def value(self):
        """0.6.0's value of these axes (``layer.axes.value``): ``"sample-wise"``, ``"variable-wise"``, ``"global"``."""
        return self.member.value

    @property
    def name(self):
        """0.6.0's member name of these axes (``layer.axes.name``): ``"SAMPLE_WISE"``, ..."""
        return self.member.name


def _canonical_axes(owner, axes):
    """``"sample_wise"``, ``"variable_wise"`` or ``"global"`` for a ``NormalizeAxes`` or either spelling."""
    value = axes.value if isinstance(axes, NormalizeAxes) else axes
    if isinstance(value, str) and value.replace("-", "_") in _AXES:
        return _Axes(value.replace("-", "_"))
    raise ValueError(
        f"{owner}: axes must be one of {_AXES} (or 0.6.0's NormalizeAxes / 'sample-wise', 'variable-wise'), "
        f"got {axes!r}."
    )


def _nan_moments(x, axis, keepdims):
    observed = tf.logical_not(tf.math.is_nan(x))
    values = tf.where(observed, x, tf.zeros_like(x))
    count = tf.maximum(tf.reduce_sum(tf.cast(observed, x.dtype), axis=axis, keepdims=keepdims), 1.0)
    mean = tf.reduce_sum(values, axis=axis, keepdims=keepdims) / count
    centred = tf.where(observed, x - mean, tf.zeros_like(x))
    variance = tf.reduce_sum(tf.square(centred), axis=axis, keepdims=keepdims) / count
    return mean, tf.sqrt(variance)


@keras.utils.register_keras_serializable(package="libspn_keras")
class NormalizeStandardScore(KeepsCellScopes, FullPrecisionLayer):
    """``(x - mean) / (std + normalization_epsilon)`` with NaN (missing) entries ignored and kept NaN.

    ``axes="sample_wise"`` normalizes every sample by its own statistics;
    ``"variable_wise"`` uses one mean and std per input position and
    ``"global"`` one for all, both learned by :meth:`adapt`. The statistics
    come back from :meth:`statistics`, and :meth:`inverse` maps values (e.g.
    completions) back to input units. Note that the SPN then models the
    normalized values, so its densities are in normalized units. Integer
    inputs (such as ``uint8`` images) are cast to the layer's float dtype;
    ``-1`` in a signed integer input is missing, as ``NaN`` in a float one.

    The arguments are those of 0.6.0 (``normalization_epsilon`` first);
    ``axes`` also takes 0.6.0's :class:`NormalizeAxes` and spellings
    (``"sample-wise"``), and ``epsilon`` is another name for
    ``normalization_epsilon``.

    Args:
        normalization_epsilon: Added to the std to avoid division by zero
            (with 0, values whose std is 0 get a score of 0).
        axes: ``"sample_wise"``, ``"variable_wise"`` or ``"global"`` (or a
            :class:`NormalizeAxes`).
        return_stats: Whether calls return ``(normalized, mean, std)``
            instead of the normalized tensor (also a call argument, as in 0.6.0).
        epsilon: Same as ``normalization_epsilon`` (give one of the two).
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    # Position i of the output holds variable i of the input (see layers.cell_scopes.variable_source).
    keeps_variable_positions = True

    checks_built_shape = False  # its statistics check the shape where they fix it

    SAMPLE_WISE = SAMPLE_WISE
    VARIABLE_WISE = VARIABLE_WISE
    GLOBAL = GLOBAL

    def __init__(self, normalization_epsilon=None, axes=SAMPLE_WISE, return_stats=False, epsilon=None, **kwargs):
        super().__init__(**kwargs)
        owner = layer_label(self)
        if isinstance(normalization_epsilon, NormalizeAxes) or (
            isinstance(normalization_epsilon, str) and normalization_epsilon.replace("-", "_") in _AXES
        ):
            # Written with the axes first (this library's earlier order): NormalizeStandardScore("variable_wise").
            normalization_epsilon, axes = None, normalization_epsilon
        if normalization_epsilon is not None and epsilon is not None:
            raise ValueError(f"{owner}: give normalization_epsilon or epsilon, not both.")
        value = normalization_epsilon if normalization_epsilon is not None else epsilon
        value = 1e-8 if value is None else value
        self.axes = _canonical_axes(owner, axes)
        self.normalization_epsilon = check_float(owner, "normalization_epsilon", value, minimum=0.0)
        self.return_stats = check_bool(owner, "return_stats", return_stats)

    @property
    def epsilon(self):
        """Same as ``normalization_epsilon``."""
        return self.normalization_epsilon

    @property
    def stddev(self):
        """0.6.0's name of the adapted standard deviations ``std``."""
        return self.std

    def build(self, input_shape):
        if self.axes == SAMPLE_WISE:
            return
        shape = tuple(input_shape[1:]) if self.axes == VARIABLE_WISE else ()
        self.mean = self.add_weight(name="mean", shape=shape, initializer="zeros", trainable=False)
        self.std = self.add_weight(name="std", shape=shape, initializer="ones", trainable=False)

    def call(self, x, return_stats=None):
        x = as_float_with_missing(x, self.compute_dtype)
        # +-inf would turn whole samples into NaN (missing) here, before a leaf could refuse them.
        x = guard_values(layer_label(self), x, tf.math.is_inf(x), "Accepted: finite numbers; NaN marks missing values.")
        if self.axes == VARIABLE_WISE:
            self._check_variable_shape(x.shape, "input")
        mean, std = self.statistics(x)
        scale = std + self.normalization_epsilon
        # With normalization_epsilon=0 a constant sample has std 0: its values are its mean, a score of 0, not NaN
        # (which the leaves would read as missing).
        normalized = (x - mean) / tf.where(scale > 0, scale, tf.ones_like(scale))
        if self.return_stats if return_stats is None else return_stats:
            return normalized, mean, std
        return normalized

    def compute_output_shape(self, input_shape, return_stats=None):
        if self.return_stats if return_stats is None else return_stats:
            statistics_shape = (
                (input_shape[0],) + (1,) * (len(input_shape) - 1)
                if self.axes == SAMPLE_WISE
                else (tuple(input_shape[1:]) if self.axes == VARIABLE_WISE else ())
            )
            return tuple(input_shape), statistics_shape, statistics_shape
        return tuple(input_shape)

    def compute_output_spec(self, x, return_stats=None):
        # Keras hands compute_output_shape the input shapes only: the call argument return_stats is passed here.
        dtype = self.compute_dtype  # floats are cast to it by the call (Keras's autocast), integers by the layer
        stats = self.return_stats if return_stats is None else return_stats
        shapes = self.compute_output_shape(tuple(x.shape), return_stats=stats)
        if not stats:
            return kept_cell_scopes(keras.KerasTensor(shapes, dtype=dtype), x)
        normalized, mean, std = (keras.KerasTensor(shape, dtype=dtype) for shape in shapes)
        return kept_cell_scopes(normalized, x), mean, std

    def get_config(self):
        config = super().get_config()
        config.update(
            axes=str(self.axes), normalization_epsilon=self.normalization_epsilon, return_stats=self.return_stats
        )
        return config

    def adapt(self, data=None, batch_size=1024, *, ds=None):
        """Learns the variable-wise or global statistics from an array or a ``tf.data.Dataset`` of inputs.

        A sample-wise layer has nothing to learn, so this is a no-op for it
        (0.6.0 raised an error). ``ds`` is 0.6.0's name of ``data``.
        """
        if ds is not None:
            if data is not None:
                raise TypeError(f"{layer_label(self)}.adapt: give data or ds (0.6.0's name), not both.")
            data = ds
        if data is None:
            raise TypeError(f"{layer_label(self)}.adapt: missing the data (an array or a tf.data.Dataset).")
        if self.axes == SAMPLE_WISE:
            return
        if isinstance(data, tf.data.Dataset):
            # A labelled dataset yields (x, y) or (x, y, weights): statistics come from x.
            data = np.concatenate(
                [np.asarray(batch[0] if isinstance(batch, (tuple, list)) else batch) for batch in data], axis=0
            )
        data = tf.cast(as_float_with_missing(tf.convert_to_tensor(np.asarray(data)), tf.float32), tf.float32)
        if not self.built:
            self.build(data.shape)
        if self.axes == VARIABLE_WISE:
            self._check_variable_shape(data.shape, "data given to adapt")
        axis = 0 if self.axes == VARIABLE_WISE else None
        mean, std = _nan_moments(data, axis=axis, keepdims=False)
        self.mean.assign(mean)
        self.std.assign(std)

    def _check_variable_shape(self, shape, what):
        """Raises ``ValueError`` unless ``shape`` (batch first) fits the per-variable statistics."""
        expected = tuple(self.mean.shape)
        found = tuple(shape[1:])
        if len(found) != len(expected) or any(f is not None and f != e for f, e in zip(found, expected)):
            raise ValueError(
                f"{layer_label(self)}: the variable-wise statistics have shape {expected} (one per input position, "
                f"fixed when the layer was built or adapted), but the {what} has shape {tuple(shape)}. Use a layer "
                f"built and adapted for this input shape."
            )

    def statistics(self, x):
        """``(mean, std)`` used for ``x``, broadcastable to its shape."""
        if self.axes == SAMPLE_WISE:
            x = as_float_with_missing(x, self.compute_dtype)
            return _nan_moments(x, axis=list(range(1, x.shape.rank)), keepdims=True)
        return tf.convert_to_tensor(self.mean), tf.convert_to_tensor(self.std)

    def inverse(self, normalized, mean, std):
        """Maps normalized values back to input units with statistics from :meth:`statistics`."""
        return normalized * (std + self.normalization_epsilon) + mean
