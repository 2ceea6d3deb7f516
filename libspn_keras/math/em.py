"""M-steps of online EM, shared by the optimizer; all tensor-wide.

Sum accumulators ``[*lead, children, sums]`` are linear-space and normalized
over the children axis (-2). Leaf statistics ``[..., 3]`` hold, per
component and dimension, ``(n, sum x, sum x^2)`` in the normalized form
``(1, mean, variance + mean^2)``.
"""

import tensorflow as tf


def online_em_sum_update(accumulators, counts, learning_rate):
    """``(1 - eta) * w_old + eta * counts / sum(counts)`` per sum; sums that received no count keep ``w_old``."""
    old = accumulators / tf.reduce_sum(accumulators, axis=-2, keepdims=True)
    total = tf.reduce_sum(counts, axis=-2, keepdims=True)
    reached = total > 0
    estimate = counts / tf.where(reached, total, tf.ones_like(total))
    new = (1.0 - learning_rate) * old + learning_rate * estimate
    return tf.where(reached, new, old)


def leaf_moments(statistics):
    """``(mean, variance)`` from statistics ``(n, sum x, sum x^2)`` on the last axis."""
    count = statistics[..., 0]
    mean = statistics[..., 1] / count
    variance = statistics[..., 2] / count - tf.square(mean)
    return mean, variance


def online_em_leaf_update(statistics, batch_statistics, learning_rate, update_mean, update_variance):
    """Online EM step of a location(-scale) leaf, returning normalized statistics ``(1, mean, var + mean^2)``.

    ``batch_statistics`` are the responsibility-weighted ``(sum r, sum r x,
    sum r x^2)`` of the last batches. The new mean is
    ``(1 - eta) * mean_old + eta * mean_em`` (and likewise the variance when
    ``update_variance``; the mean only when ``update_mean``); components
    that no sample reached keep their values.
    """
    old_mean, old_variance = leaf_moments(statistics)
    count = batch_statistics[..., 0]
    reached = count > 0
    safe = tf.where(reached, count, tf.ones_like(count))
    em_mean = batch_statistics[..., 1] / safe
    # The variance is estimated about the mean the component ends up with (the EM mean, or the fixed one).
    centre = em_mean if update_mean else old_mean
    em_variance = batch_statistics[..., 2] / safe - 2.0 * centre * em_mean + tf.square(centre)
    mean = old_mean
    if update_mean:
        mean = tf.where(reached, (1.0 - learning_rate) * old_mean + learning_rate * em_mean, old_mean)
    variance = old_variance
    if update_variance:
        variance = tf.where(reached, (1.0 - learning_rate) * old_variance + learning_rate * em_variance, old_variance)
    return tf.stack([tf.ones_like(mean), mean, variance + tf.square(mean)], axis=-1)
