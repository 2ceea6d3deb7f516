"""Log-densities of the location-scale leaves, accurate at the extremes of float32.

Every density is written in the standardized value ``z = (x - loc) / scale``,
computed by subtracting first: ``x / scale - loc / scale`` (how
``tensorflow_probability`` evaluates it) rounds both terms at the magnitude of
``loc / scale`` and loses all digits of ``z`` when ``|loc| >> scale``. Scales
are clamped to the smallest normal number of the dtype, since TensorFlow
flushes subnormal numbers to zero on CPU, so a tiny scale gives a finite
log-density at the location and ``-inf`` (probability 0 to float precision)
far from it, never ``NaN``.
"""

import math

import numpy as np
import tensorflow as tf

_HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)
_LOG_PI = math.log(math.pi)
_LOG_TWO = math.log(2.0)


def safe_scale(scale):
    """``scale`` clamped to the smallest positive normal number of its dtype."""
    return tf.maximum(scale, np.finfo(scale.dtype.as_numpy_dtype).tiny)


def standardized(x, loc, scale):
    """``(x - loc) / scale`` with the difference taken before the division."""
    return (x - loc) / scale


def normal_log_prob(x, loc, scale):
    """Log-density of ``Normal(loc, scale)`` at ``x`` (broadcasting)."""
    scale = safe_scale(scale)
    z = standardized(x, loc, scale)
    return -0.5 * tf.square(z) - tf.math.log(scale) - _HALF_LOG_TWO_PI


def laplace_log_prob(x, loc, scale):
    """Log-density of ``Laplace(loc, scale)`` at ``x`` (broadcasting)."""
    scale = safe_scale(scale)
    return -tf.abs(standardized(x, loc, scale)) - tf.math.log(scale) - _LOG_TWO


def cauchy_log_prob(x, loc, scale):
    """Log-density of ``Cauchy(loc, scale)`` at ``x`` (broadcasting).

    ``log1p(z^2)`` overflows for ``|z| > ~1.8e19`` in float32, so beyond
    ``|z| = 1e4`` it is computed as ``2 log|z| + log1p(1 / z^2)``.
    """
    scale = safe_scale(scale)
    z = tf.abs(standardized(x, loc, scale))
    large = z > 1e4
    z_small = tf.where(large, tf.zeros_like(z), z)
    z_large = tf.where(large, z, tf.ones_like(z))
    log_term = tf.where(
        large,
        2.0 * tf.math.log(z_large) + tf.math.log1p(tf.math.reciprocal(tf.square(z_large))),
        tf.math.log1p(tf.square(z_small)),
    )
    return -log_term - tf.math.log(scale) - _LOG_PI
