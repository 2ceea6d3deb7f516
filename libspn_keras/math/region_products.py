"""Products of gathered child nodes in log space, as used by compiled region graphs.

Child values are log-probabilities stored node-major, ``[nodes, batch, k]``:
node ``n`` of a table holds ``k`` values per sample. Gathering and segment
sums then work on the leading axis, so a whole level of products, whatever
the number of parts per product, is a gather and one segment sum.
"""

import tensorflow as tf


def log_elementwise_product(table, rows, segments, num_products):
    """Elementwise products: product ``p`` multiplies the nodes ``rows[segments == p]`` of ``table``.

    Args:
        table: ``[nodes, batch, k]`` log-values.
        rows: ``[E]`` nodes to multiply.
        segments: ``[E]`` product of every row, sorted.
        num_products: Number of products ``P``.

    Returns:
        ``[P, batch, k]``, the sums of the log-values of each product's nodes.
    """
    return tf.math.unsorted_segment_sum(tf.gather(table, rows), segments, num_products)


def log_outer_product(left, right):
    """Every product of a node of ``left`` ``[..., m]`` with one of ``right`` ``[..., n]``: ``[..., m * n]``.

    Output ``i * n + j`` is ``left_i + right_j`` (the order of
    :class:`~libspn_keras.layers.DenseProduct`).
    """
    out = tf.expand_dims(left, -1) + tf.expand_dims(right, -2)
    return tf.reshape(out, tf.concat([tf.shape(left)[:-1], [left.shape[-1] * right.shape[-1]]], axis=0))
