"""Dirichlet-distributed sum weights."""

import numbers

import numpy as np
import tensorflow as tf
from tensorflow import keras

from libspn_keras.arguments import check_bool


@keras.utils.register_keras_serializable(package="libspn_keras")
class Dirichlet(keras.initializers.Initializer):
    """Draws the values along ``axis`` (by default the children axis of accumulators) from a Dirichlet.

    Every slice along ``axis`` is one draw, so it is positive and sums to 1
    (or, with ``logspace=True``, its exponentials do). The arguments and
    their defaults are those of libspn-keras 0.6.0 (``axis`` first); write
    ``Dirichlet(alpha=1.0)`` to set only the concentration.

    Args:
        axis: Axis along which every slice is one Dirichlet draw; default
            ``-2``, the children axis of accumulators ``[*lead, children, sums]``.
        alpha: Concentration, > 0: a scalar shared by all children, or one
            value per entry along ``axis``. Below 1 favours peaked weights,
            above 1 flat ones.
        logspace: Return the log of the draws. A sum layer with log-space
            accumulators takes the log of any other initializer's values
            itself, so this is only needed to get log values directly.
        seed: Optional int seed.
    """

    def __init__(self, axis=-2, alpha=0.1, logspace=False, seed=None):
        if not isinstance(axis, numbers.Integral) or isinstance(axis, bool):
            raise ValueError(
                f"Dirichlet: axis must be an int, got {axis!r}. The first argument is the axis, as in 0.6.0; "
                f"write Dirichlet(alpha={axis!r}) to set the concentration."
            )
        if any(isinstance(value, (str, bytes, bool, np.bool_)) for value in np.ravel(np.asarray(alpha, dtype=object))):
            raise ValueError(f"Dirichlet: alpha must be a positive number or a 1-D list of them, got {alpha!r}.")
        alpha_array = np.asarray(alpha, dtype=np.float64)
        if alpha_array.ndim > 1 or alpha_array.size == 0 or not np.all(alpha_array > 0):
            raise ValueError(f"Dirichlet: alpha must be a positive number or a 1-D list of them, got {alpha!r}.")
        self.axis = int(axis)
        self.alpha = float(alpha_array) if alpha_array.ndim == 0 else alpha_array.tolist()
        self.logspace = check_bool("Dirichlet", "logspace", logspace)
        self.seed = seed

    def __call__(self, shape, dtype=None):
        shape = tuple(int(size) for size in shape)
        dtype = tf.as_dtype(dtype or "float32")
        if not -len(shape) <= self.axis < len(shape):
            raise ValueError(f"Dirichlet: axis {self.axis} is out of range for a variable of shape {shape}.")
        axis = self.axis % len(shape)
        alpha = np.asarray(self.alpha, dtype=dtype.as_numpy_dtype)
        if alpha.ndim == 1:
            if alpha.size != shape[axis]:
                raise ValueError(
                    f"Dirichlet: {alpha.size} concentrations for axis {self.axis} of size {shape[axis]} "
                    f"(variable shape {shape}); give one per entry or a scalar."
                )
            alpha = alpha.reshape([-1] + [1] * (len(shape) - axis - 1))
        concentration = tf.broadcast_to(tf.constant(alpha, dtype), shape)
        draws = tf.random.gamma([], alpha=concentration, dtype=dtype, seed=self.seed)
        draws = tf.maximum(draws, tf.constant(1e-30, dtype))
        weights = draws / tf.reduce_sum(draws, axis=axis, keepdims=True)
        return tf.math.log(weights) if self.logspace else weights

    def get_config(self):
        return {"axis": self.axis, "alpha": self.alpha, "logspace": self.logspace, "seed": self.seed}
