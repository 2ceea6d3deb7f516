"""Keeps values inside an interval."""

import math

import numpy as np
import tensorflow as tf
from tensorflow import keras

from libspn_keras.arguments import ArgumentError, as_scalar, is_real


def _bound(name, value):
    """``None``, a float, or (per element, as ``tf.clip_by_value`` took it in 0.6.0) a nested list of floats."""
    if value is None:
        return None
    value = as_scalar(value)
    if hasattr(value, "assign"):
        raise ArgumentError(
            f"Clip: {name} must be a number, an array of numbers or None, got the variable {value!r}; pass its "
            f"value (the bound is fixed when the constraint is made)."
        )
    if is_real(value):
        if math.isnan(value):
            raise ArgumentError(f"Clip: {name} must be a number, an array of numbers or None, got {value!r}.")
        return float(value)
    try:
        array = np.asarray(value)
    except Exception:  # e.g. a symbolic tensor
        array = np.asarray(None)
    if array.ndim == 0 or array.size == 0 or array.dtype.kind not in "iuf" or np.isnan(array).any():
        raise ArgumentError(f"Clip: {name} must be a number, an array of numbers or None, got {value!r}.")
    return array.astype(np.float64).tolist()


def _refuse_reshaping(name, bound, w):
    """Raises ``ValueError`` where an array ``bound`` would broadcast ``w`` to another shape.

    ``tf.clip_by_value`` refuses that too; here it would silently widen what
    is clipped (a leaf's scales of one dimension read as several).
    """
    bound_shape = np.shape(bound) if isinstance(bound, list) else ()
    shape = tuple(w.shape)
    if not bound_shape or None in shape:
        return
    try:
        fits = np.broadcast_shapes(shape, bound_shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"Clip: {name} of shape {bound_shape} does not fit the values it clips, of shape {shape}: an array "
            f"bound must broadcast to their shape without changing it (one bound per value, or sizes of 1 where "
            f"bounds are shared), as tf.clip_by_value requires."
        )


@keras.utils.register_keras_serializable(package="libspn_keras")
class Clip(keras.constraints.Constraint):
    """Clips every value to ``[min, max]``.

    Useful for leaf scales (a floor against collapsing components and a
    ceiling against flat ones) or for bounding log-space accumulators. The
    arguments are 0.6.0's (``Clip(min, max=None)``); ``min_value`` and
    ``max_value`` are accepted as other names for them.

    Args:
        min: Lower bound, or ``None`` for none. An array (broadcast against
            the values, as 0.6.0's ``tf.clip_by_value`` did) bounds each
            value separately.
        max: Upper bound, or ``None`` for none; at least ``min`` (elementwise
            for arrays).
        min_value: Same as ``min`` (give one of the two).
        max_value: Same as ``max`` (give one of the two).
    """

    def __init__(self, min=None, max=None, min_value=None, max_value=None):
        if min is not None and min_value is not None:
            raise ValueError("Clip: give min or min_value, not both.")
        if max is not None and max_value is not None:
            raise ValueError("Clip: give max or max_value, not both.")
        self.min_value = _bound("min", min if min is not None else min_value)
        self.max_value = _bound("max", max if max is not None else max_value)
        if self.min_value is not None and self.max_value is not None:
            try:
                crossed = np.any(np.asarray(self.min_value) > np.asarray(self.max_value))
            except ValueError:  # shapes that do not broadcast
                raise ArgumentError(
                    f"Clip: min {self.min_value} and max {self.max_value} do not broadcast against each other."
                ) from None
            if crossed:
                raise ArgumentError(f"Clip: min {self.min_value} is greater than max {self.max_value}.")

    @property
    def min(self):
        """The lower bound (``None`` for none)."""
        return self.min_value

    @property
    def max(self):
        """The upper bound (``None`` for none)."""
        return self.max_value

    def __call__(self, w):
        for name, bound in (("min", self.min_value), ("max", self.max_value)):
            _refuse_reshaping(name, bound, w)
        if self.min_value is not None:
            w = tf.maximum(w, tf.constant(self.min_value, w.dtype))
        if self.max_value is not None:
            w = tf.minimum(w, tf.constant(self.max_value, w.dtype))
        return w

    def get_config(self):
        return {"min": self.min_value, "max": self.max_value}
