"""Products of nodes in log space."""

import tensorflow as tf


def log_outer_product(left, right):
    """Every product of a node of ``left`` with a node of ``right``, in log space.

    Args:
        left: ``[..., k1]`` log-values.
        right: ``[..., k2]`` log-values (leading axes as ``left``).

    Returns:
        ``[..., k1 * k2]``; node ``i * k2 + j`` is ``left_i + right_j``.
    """
    outer = tf.expand_dims(left, -1) + tf.expand_dims(right, -2)
    return tf.reshape(outer, tf.concat([tf.shape(left)[:-1], [left.shape[-1] * right.shape[-1]]], axis=0))
