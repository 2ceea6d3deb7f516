"""Products of gathered child nodes in log space, as used by compiled region graphs.

Child values are log-probabilities stored node-major, ``[nodes, batch, k]``:
node ``n`` of a table holds ``k`` values per sample. Gathers and sums then
work on the leading axis, so a whole level of elementwise products, whatever
the number of parts per product, is one gather and masked sum per source
(:func:`gather_sum`).
"""

import numpy as np
import tensorflow as tf

from libspn_keras.math.products import log_outer_product

__all__ = ["gather_rows", "gather_sum", "log_outer_product", "padded_index"]


def gather_rows(table, rows):
    """``table[rows]`` along the leading axis; ``table`` itself when ``rows`` (NumPy) lists all of its rows in order."""
    if table.shape[0] == len(rows) and np.array_equal(rows, np.arange(len(rows))):
        return table
    return tf.gather(table, rows)


def padded_index(targets, sources, num_targets):
    """``[num_targets, M]`` table: row ``t`` lists the ``sources`` paired with target ``t``, padded with ``-1``.

    Args:
        targets: ``[E]`` target of every pair (NumPy integers in ``[0, num_targets)``).
        sources: ``[E]`` source row of every pair.
        num_targets: Number of rows of the table.
    """
    targets, sources = np.asarray(targets, dtype=np.int64), np.asarray(sources, dtype=np.int64)
    order = np.argsort(targets, kind="stable")
    counts = np.bincount(targets, minlength=num_targets)
    index = -np.ones((num_targets, max(int(counts.max(initial=0)), 1)), dtype=np.int32)
    slot = np.arange(len(targets)) - np.repeat(np.cumsum(counts) - counts, counts)
    index[targets[order], slot] = sources[order]
    return index


def gather_sum(table, index, num_rows=None):
    """``out[p] = sum of table[index[p, m]]`` over the entries ``index[p, m] >= 0``; 0 for a row without any.

    A gather and a masked sum forward; the gradient is the same operation
    on the upstream gradient with the transposed (NumPy) index, so neither
    direction scatters (XLA compiles scatters on CPUs into slow serial loops).

    Args:
        table: ``[rows, ...]`` values (log-values of nodes: the sums are products).
        index: ``[P, M]`` NumPy rows of ``table``, ``-1`` for padding.
        num_rows: Rows of ``table`` (its static leading size by default).

    Returns:
        ``[P, ...]``.
    """
    index = np.asarray(index, dtype=np.int32)
    num_rows = table.shape[0] if num_rows is None else num_rows
    pairs = np.nonzero(index >= 0)
    transposed = padded_index(index[pairs], pairs[0], num_rows)

    @tf.custom_gradient
    def forward(table):
        def grad(upstream):
            return gather_sum(upstream, transposed, len(index))

        return _masked_gather_sum(table, index), grad

    return forward(table)


def _masked_gather_sum(table, index):
    if index.shape[1] == 1 and (index >= 0).all():
        return gather_rows(table, index[:, 0])
    values = tf.gather(table, np.maximum(index, 0))
    if (index >= 0).all():
        return tf.reduce_sum(values, axis=1)
    mask = tf.reshape(tf.constant(index >= 0), list(index.shape) + [1] * (values.shape.rank - 2))
    return tf.reduce_sum(tf.where(mask, values, tf.zeros_like(values)), axis=1)
