"""Where the elementwise products of each level read their parts, as gather-sum indices (NumPy only).

A level's elementwise products add log-values of nodes from the leaf
tensor and from earlier levels. Instead of gathering a table of those nodes
and summing segments of it (a scatter, forward or backward), each product
reads its parts straight from their sources with one padded index per source
(see :func:`~libspn_keras.math.region_products.gather_sum`). The leaf nodes
all levels read are gathered once, in level order, and split into one chunk
per level, so that no level's gradient spans the whole leaf tensor.
"""

import numpy as np

from libspn_keras.math.region_products import padded_index
from libspn_keras.structure.plan import LEAF_SOURCE


class LevelReads:
    """Gather-sum indices of the elementwise products of every level of a plan.

    Attributes:
        leaf_rows: Per level, the leaf rows of its chunk (``None`` where the
            level reads no leaf node), in the order of the level's leaf table.
        groups: Per level, per product group, ``None`` for an outer group, or
            the list ``[(source, index [P, M])]`` of an elementwise group,
            where ``source`` is a level's output (``>= 1``) read at rows
            ``index``, or ``LEAF_SOURCE``,
            the level's leaf chunk, read at chunk positions.
    """

    def __init__(self, plans):
        self.leaf_rows, self.groups = [], []
        for plan in plans:
            blocks = [(size, source, rows) for size, entries in plan.tables.items() for source, rows in entries]
            leaf = [rows for _, source, rows in blocks if source == LEAF_SOURCE]
            self.leaf_rows.append(leaf[0] if leaf else None)
            self.groups.append([_group_reads(plan.tables, group) for group in plan.groups])

    @property
    def all_leaf_rows(self):
        """The leaf rows of every chunk, level after level (``[0]``-long if none)."""
        rows = [rows for rows in self.leaf_rows if rows is not None]
        return np.concatenate(rows) if rows else np.zeros([0], dtype=np.int32)


def _group_reads(tables, group):
    if group.kind != "elementwise":
        return None
    entries = tables[group.size]
    starts = np.cumsum([0] + [len(rows) for _, rows in entries])
    block = np.searchsorted(starts, group.rows, side="right") - 1
    reads = []
    for b, (source, rows) in enumerate(entries):
        mine = block == b
        if not mine.any():
            continue
        local = group.rows[mine] - starts[b]
        position = local if source == LEAF_SOURCE else rows[local]
        reads.append((source, padded_index(group.segments[mine], position, group.num_partitions)))
    return reads
