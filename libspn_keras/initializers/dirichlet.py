"""Dirichlet-distributed sum weights."""

import numbers

import numpy as np
import tensorflow as tf
from tensorflow import keras

from libspn_keras.arguments import check_bool


def _log_dirichlet(concentration, axis, dtype, seed):
    """Log of Dirichlet draws along ``axis``, exact for any concentration, however small.

    A Gamma(alpha) draw is Gamma(alpha + 1) * U ** (1 / alpha), whose log
    stays finite for any alpha > 0 (the draws themselves underflow for small
    alpha). With an int ``seed`` the draws are stateless: the same seed gives
    the same values at every call, as for Keras' seeded initializers.
    """
    tiny = tf.constant(np.finfo(dtype.as_numpy_dtype).tiny, dtype)
    shape = tf.shape(concentration)
    if seed is None:
        gamma = tf.random.gamma([], alpha=concentration + 1.0, dtype=dtype)
        uniform = tf.random.uniform(shape, minval=tiny, maxval=1.0, dtype=dtype)
    else:
        key = int(seed) % 2**63
        gamma = tf.random.stateless_gamma(
            shape, seed=tf.constant([key, 0], tf.int64), alpha=concentration + 1.0, dtype=dtype
        )
        uniform = tf.random.stateless_uniform(
            shape, seed=tf.constant([key, 1], tf.int64), minval=tiny, maxval=1.0, dtype=dtype
        )
    log_draws = tf.math.log(tf.maximum(gamma, tiny)) + tf.math.log(uniform) / concentration
    # Shifted by the largest first, so that the normalization is exact however far below 0 the logs lie.
    shifted = log_draws - tf.reduce_max(log_draws, axis=axis, keepdims=True)
    return shifted - tf.math.log(tf.reduce_sum(tf.exp(shifted), axis=axis, keepdims=True))


# Unseeded Gamma draws below this are raised to it, so that linear weights (and the logs of them that log-space
# accumulators take) stay finite.
_GAMMA_FLOOR = 1e-30


def _with_exact_tails(log_weights, floored, concentration):
    """``log_weights`` with the entries whose Gamma draw was raised to the floor ``c`` moved to their exact tail.

    Given X < c, a Gamma(alpha) draw is c * U ** (1 / alpha) (its density is x ** (alpha - 1) times exp(-x), which
    is 1 to within 1e-30 there), so its log is log(c) + log(U) / alpha, however far below c it lies. The floor alone
    cut the lower tail of the log weights at about -69 for alpha <= 0.05. The floored entries' share of a slice's
    total is below 1e-10 (slices with no draw above 1e-20 are redrawn whole), so the other entries keep their
    values. Eagerly, the uniforms are drawn only when an entry was floored, so that most draws consume the global
    random state as a plain Gamma draw does.
    """
    if tf.executing_eagerly() and not bool(tf.reduce_any(floored)):
        return log_weights
    dtype = log_weights.dtype
    tiny = tf.constant(np.finfo(dtype.as_numpy_dtype).tiny, dtype)
    uniform = tf.random.uniform(tf.shape(log_weights), minval=tiny, maxval=1.0, dtype=dtype)
    return log_weights + tf.where(floored, tf.math.log(uniform) / concentration, tf.zeros_like(log_weights))


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
        seed: Optional int seed: the same seed gives the same values at every
            call (as Keras' seeded initializers do); ``None`` draws from
            TensorFlow's global random state.
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
        if not np.all(alpha_array < np.finfo(np.float32).max):
            # Gamma draws of an infinite concentration are NaN; its flat weights are EpsilonInverseFanIn's.
            raise ValueError(
                f"Dirichlet: alpha must be finite (and below the float32 maximum), got {alpha!r}; for flat weights "
                f"use initializers.EpsilonInverseFanIn or a large finite alpha."
            )
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
        # Drawn in float32 (float64 for float64 variables): tf.random.gamma takes no bfloat16, and float16
        # draws underflow already for moderate concentrations.
        work_dtype = tf.float64 if dtype == tf.float64 else tf.float32
        alpha = np.asarray(self.alpha, dtype=work_dtype.as_numpy_dtype)
        if alpha.ndim == 1:
            if alpha.size != shape[axis]:
                raise ValueError(
                    f"Dirichlet: {alpha.size} concentrations for axis {self.axis} of size {shape[axis]} "
                    f"(variable shape {shape}); give one per entry or a scalar."
                )
            alpha = alpha.reshape([-1] + [1] * (len(shape) - axis - 1))
        concentration = tf.broadcast_to(tf.constant(alpha, work_dtype), shape)
        if self.seed is not None:
            # Stateless and in log space: the same values at every call, exact however small the concentration.
            log_weights = _log_dirichlet(concentration, axis, work_dtype, self.seed)
            return tf.cast(log_weights if self.logspace else tf.exp(log_weights), dtype)
        floor = tf.constant(_GAMMA_FLOOR, work_dtype)
        raw_draws = tf.random.gamma([], alpha=concentration, dtype=work_dtype)
        draws = tf.maximum(raw_draws, floor)
        weights = draws / tf.reduce_sum(draws, axis=axis, keepdims=True)
        log_weights = tf.math.log(weights)
        if self.logspace:
            log_weights = _with_exact_tails(log_weights, raw_draws < floor, concentration)
        # Small concentrations (0.01 and below) make whole slices of Gamma draws underflow to 0, which the floor
        # above would turn into flat weights instead of the nearly one-hot draws they stand for: redraw those
        # slices in log space. Eagerly, only when there are any, so that other draws stay as they are.
        degenerate = tf.reduce_max(draws, axis=axis, keepdims=True) < 1e-20
        if not tf.executing_eagerly() or bool(tf.reduce_any(degenerate)):
            redrawn = _log_dirichlet(concentration, axis, work_dtype, None)
            log_weights = tf.where(degenerate, redrawn, log_weights)
            weights = tf.where(degenerate, tf.exp(redrawn), weights)
        return tf.cast(log_weights if self.logspace else weights, dtype)

    def get_config(self):
        return {"axis": self.axis, "alpha": self.alpha, "logspace": self.logspace, "seed": self.seed}
