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


def log_sum_exp(x, axis=-1):
    """``log(sum(exp(x)))`` over ``axis``, with no gradient (0, not ``nan``) where every entry is ``-inf``.

    ``tf.reduce_logsumexp`` of all ``-inf`` values is ``-inf`` too, but its
    gradient is ``0 / 0``. One sample of probability 0 in a batch (a value
    far out in a leaf's tail, a child dropped by ``LogDropout``) would then
    turn every gradient and EM count of the batch into ``nan``; here it adds
    nothing, and the other samples train as they would without it.
    """
    shift = finite_max(x, axis, keepdims=True)
    total = tf.reduce_sum(tf.exp(x - shift), axis=axis)
    reached = total > 0
    log_total = tf.math.log(tf.where(reached, total, tf.ones_like(total))) + tf.squeeze(shift, axis)
    return tf.where(reached, log_total, tf.fill(tf.shape(total), tf.constant(-float("inf"), x.dtype)))


def renormalized(log_sum, *children):
    """``log_sum(*children)`` less the same sums of children of log-value 0, as a constant.

    ``log_sum`` computes sums whose weights are normalized to 1, so the
    subtracted term, ``log(sum of the weights)`` as the kernel accumulates
    them, is 0 up to float32 rounding. Rounding a float32 accumulation that
    ends near 1 is biased (about ``-5e-9`` per sum, mostly where the partial
    sums cross 1), and products add the errors of every sum below them: 1e-5
    of probability mass at depth 10. Subtracting the kernel's own value for a
    one all-zero sample, appended to the batch so that it is summed in the
    same order and rounds the same way, cancels that bias (every sum of a
    fully marginalized network gives exactly 0, with and without XLA); it
    changes no gradient and adds one row to the batch.

    Args:
        log_sum: ``log_sum(*children) -> [batch, *lead, sums]`` in log space.
        *children: Its inputs, each ``[batch, ...]``.

    Returns:
        ``[batch, *lead, sums]``.
    """
    # The zero sample rides along as one more batch row: a separate batch-of-one contraction may be
    # compiled (by XLA) into another summation order, with another rounding.
    padded = [tf.concat([child, tf.zeros_like(child[:1])], axis=0) for child in children]
    out = log_sum(*padded)
    return out[:-1] - tf.stop_gradient(out[-1:])
