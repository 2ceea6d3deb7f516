"""Log-densities of the location-scale leaves, accurate at the extremes of float32.

Every density is written in the standardized value ``z = (x - loc) / scale``,
computed by subtracting first: ``x / scale - loc / scale`` (how
``tensorflow_probability`` evaluates it) rounds both terms at the magnitude of
``loc / scale`` and loses all digits of ``z`` when ``|loc| >> scale``. Scales
are clamped to the smallest normal number of the dtype, since TensorFlow
flushes subnormal numbers to zero on CPU, so a tiny scale gives a finite
log-density at the location and ``-inf`` (probability 0 to float precision)
far from it, never ``NaN``. Gradients are never ``NaN`` either: where
``z`` (or ``z^2``) overflows, the difference is masked before the division,
so no ``0 * inf`` reaches the location or the scale.
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


def _split(x, loc, scale):
    """``(scale, x - loc, |z|)``: the clamped scale, the difference, and ``|z|`` for masks only (no gradient).

    ``|z|`` may be ``inf`` (``x - loc`` or the division overflowing). Each
    density masks the difference *before* dividing where ``|z|`` exceeds
    what its formula can take: a gradient of ``0 * inf`` (the zero signal
    reaching a masked branch, or a sample with probability 0, times an
    overflowed ``2 z`` or ``(x - loc) / scale^2``) would otherwise be
    ``NaN`` and poison every parameter it reaches.
    """
    scale = safe_scale(scale)
    diff = x - loc
    return scale, diff, tf.stop_gradient(tf.abs(diff) / scale)


def _z_within(diff, scale, z_abs, limit):
    """``(z, beyond)``: ``z`` where ``|z| <= limit`` and 0 elsewhere (masked before the division), and where
    ``|z|`` exceeds ``limit`` or is infinite (or NaN: ``not <=`` rather than ``>``)."""
    beyond = tf.logical_not(z_abs <= limit)
    return tf.where(beyond, tf.zeros_like(diff), diff) / scale, beyond


def normal_log_prob(x, loc, scale):
    """Log-density of ``Normal(loc, scale)`` at ``x`` (broadcasting).

    ``-inf`` where ``z^2`` overflows (``|z| > sqrt(max)``), with gradient 0 there.
    """
    scale, diff, z_abs = _split(x, loc, scale)
    z, far = _z_within(diff, scale, z_abs, math.sqrt(np.finfo(scale.dtype.as_numpy_dtype).max))
    log_prob = -0.5 * tf.square(z) - tf.math.log(scale) - _HALF_LOG_TWO_PI
    return tf.where(far, tf.constant(-np.inf, log_prob.dtype), log_prob)


def laplace_log_prob(x, loc, scale):
    """Log-density of ``Laplace(loc, scale)`` at ``x`` (broadcasting); ``-inf`` where ``z`` overflows."""
    scale, diff, z_abs = _split(x, loc, scale)
    z, far = _z_within(diff, scale, z_abs, np.finfo(scale.dtype.as_numpy_dtype).max)
    log_prob = -tf.abs(z) - tf.math.log(scale) - _LOG_TWO
    return tf.where(far, tf.constant(-np.inf, log_prob.dtype), log_prob)


def cauchy_log_prob(x, loc, scale):
    """Log-density of ``Cauchy(loc, scale)`` at ``x`` (broadcasting), finite for every finite ``x``.

    Up to ``|z| = 1e4`` (128 in float16, where ``z^2`` overflows above 256;
    1e8 in float64) it is ``-log1p(z^2) - log(pi * scale)``. Beyond,
    ``log1p(z^2)`` is ``2 log|z|`` to float precision (the rest,
    ``log1p(1 / z^2)``, is below 1e-8, a hundredth of the float32 rounding
    step of ``2 log|z| > 18``; below 1e-16 in float64), and its
    gradient ``2 / z`` stays exact where ``2 z / (1 + z^2)`` would pass
    through subnormal numbers. ``|z|`` may overflow itself, so its log is
    taken as ``log|x / 2 - loc / 2| + log 2 - log(scale)``. One ``log1p`` and
    one ``log`` per value (XLA evaluates every branch of a ``where``).
    """
    scale, diff, z_abs = _split(x, loc, scale)
    largest = np.finfo(scale.dtype.as_numpy_dtype).max
    limit = 1e8 if scale.dtype == tf.float64 else 1e4
    z, far = _z_within(diff, scale, z_abs, min(limit, 0.5 * math.sqrt(largest)))
    half_diff = tf.abs(tf.where(far, 0.5 * x - 0.5 * loc, tf.ones_like(diff)))
    log_scale = tf.math.log(scale)
    log_term = tf.where(far, 2.0 * (tf.math.log(half_diff) + _LOG_TWO - log_scale), tf.math.log1p(tf.square(z)))
    return -log_term - log_scale - _LOG_PI
