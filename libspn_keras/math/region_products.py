"""Products of gathered child nodes in log space, as used by compiled region graphs.

Child values are log-probabilities stored node-major, ``[nodes, batch, k]``:
node ``n`` of a table holds ``k`` values per sample. Gathers and sums then
work on the leading axis, so a whole level of elementwise products, whatever
the number of parts per product, is one gather and masked sum per source
(:func:`gather_sum`), or a few where products have very unequal numbers of
parts (:func:`length_classes`).
"""

import numpy as np
import tensorflow as tf

from libspn_keras.math.gradients import custom_gradient
from libspn_keras.math.products import log_outer_product

__all__ = ["gather_rows", "gather_sum", "length_classes", "log_outer_product", "padded_index"]


MAX_PADDING = 4
"""Padded gathers up to this many times the size of the gathers by length class stay one gather.

On the HCLTs of nltcs, plants and accidents the ratio stays below 4, and
their small levels run faster as one gather; a Chow-Liu hub of 246 children
beside 98 nodes of one or two parts gives 60.
"""


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
    Where the rows hold very unequal numbers of entries (a Chow-Liu tree's
    hub with hundreds of children beside nodes with one), one gather over
    the padded index would take ``rows x longest row`` values of memory;
    the rows are then summed in groups of similar length
    (:func:`length_classes`) and put back in order with one more gather.

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

    @custom_gradient
    def forward(table):
        def grad(upstream):
            return gather_sum(upstream, transposed, len(index))

        return _masked_gather_sum(table, index), grad

    return forward(table)


def length_classes(index):
    """Rows of a padded index grouped by their number of entries, up to the next power of two.

    Returns ``None`` when one padded gather takes at most ``MAX_PADDING``
    times the values the groups do together (then it is one gather: fewer,
    larger kernels), else a list of
    ``(rows, index [len(rows), width])``: each group's entries first in its
    rows, cut to the group's ``width``.
    """
    counts = (index >= 0).sum(axis=1)
    widths = 2 ** np.ceil(np.log2(np.maximum(counts, 1))).astype(np.int64)
    if index.size <= MAX_PADDING * widths.sum():
        return None
    # Entries first, in their order; padding after them.
    packed = np.take_along_axis(index, np.argsort(index < 0, axis=1, kind="stable"), axis=1)
    return [
        (rows, packed[rows, : min(width, index.shape[1])])
        for width in np.unique(widths)
        for rows in [np.nonzero(widths == width)[0]]
    ]


def _masked_gather_sum(table, index):
    classes = length_classes(index)
    if classes is None:
        return _padded_gather_sum(table, index)
    parts = [_padded_gather_sum(table, class_index) for _, class_index in classes]
    order = np.argsort(np.concatenate([rows for rows, _ in classes]))
    return gather_rows(tf.concat(parts, axis=0), order)  # no gather where the classes are already in order


def _padded_gather_sum(table, index):
    if index.shape[1] == 1 and (index >= 0).all():
        return gather_rows(table, index[:, 0])
    values = tf.gather(table, np.maximum(index, 0))
    if (index >= 0).all():
        return tf.reduce_sum(values, axis=1)
    mask = tf.reshape(tf.constant(index >= 0), list(index.shape) + [1] * (values.shape.rank - 2))
    return tf.reduce_sum(tf.where(mask, values, tf.zeros_like(values)), axis=1)
