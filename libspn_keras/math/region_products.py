"""Products of gathered child nodes in log space, as used by compiled region graphs.

Child values are log-probabilities ``[batch, nodes, k]``: node ``n`` of a
table holds ``k`` values. Gathering picks the nodes of many partitions at
once, so a whole level of products is a couple of tensor operations.
"""

import tensorflow as tf


def gather_nodes(table, rows):
    """Nodes ``rows`` (``[P]`` or ``[P, parts]``) of ``table`` ``[batch, nodes, k]``: ``[batch, *rows.shape, k]``."""
    return tf.gather(table, rows, axis=1)


def log_elementwise_product(table, rows):
    """Elementwise products of the nodes ``rows`` ``[P, parts]``: ``[batch, P, k]`` (a sum of log-values)."""
    return tf.reduce_sum(gather_nodes(table, rows), axis=2)


def log_outer_product(left, right):
    """Every product of a node of ``left`` ``[..., m]`` with one of ``right`` ``[..., n]``: ``[..., m * n]``.

    Output ``i * n + j`` is ``left_i + right_j`` (the order of
    :class:`~libspn_keras.layers.DenseProduct`).
    """
    out = tf.expand_dims(left, -1) + tf.expand_dims(right, -2)
    return tf.reshape(out, tf.concat([tf.shape(left)[:-1], [left.shape[-1] * right.shape[-1]]], axis=0))
