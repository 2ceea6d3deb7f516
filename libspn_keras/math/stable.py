"""Numerically stable building blocks for log-space computations."""

import tensorflow as tf


def finite_max(x, axis, keepdims=True):
    """Max of ``x`` over ``axis`` with non-finite maxima replaced by 0 and no gradient.

    Used as the shift of the max trick: subtracting a shift does not change
    the result of a log-sum-exp, so it carries no gradient, and replacing an
    all ``-inf`` maximum by 0 keeps ``x - shift`` free of ``nan``.
    """
    x_max = tf.reduce_max(x, axis=axis, keepdims=keepdims)
    x_max = tf.where(tf.math.is_finite(x_max), x_max, tf.zeros_like(x_max))
    return tf.stop_gradient(x_max)
