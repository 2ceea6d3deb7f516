"""Products of gathered child nodes in log space, as used by compiled region graphs.

Child values are log-probabilities stored node-major, ``[nodes, batch, k]``:
node ``n`` of a table holds ``k`` values per sample. Gathering and segment
sums then work on the leading axis, so a whole level of products, whatever
the number of parts per product, is a gather and one segment sum.
"""

import numpy as np
import tensorflow as tf

from libspn_keras.math.products import log_outer_product

__all__ = ["gather_rows", "log_elementwise_product", "log_outer_product"]


def gather_rows(table, rows):
    """``table[rows]`` along the leading axis; ``table`` itself when ``rows`` (NumPy) lists all of its rows in order."""
    if table.shape[0] == len(rows) and np.array_equal(rows, np.arange(len(rows))):
        return table
    return tf.gather(table, rows)


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
    values = gather_rows(table, rows)
    if num_products == 1:
        return tf.reduce_sum(values, axis=0, keepdims=True)
    return tf.math.unsorted_segment_sum(values, segments, num_products)
