"""Probabilistic queries answered by back-propagating a signal from the root to the leaves.

The signal reaching a leaf component is, per sample: its posterior
probability given the evidence (exact sums, true gradients), a 0/1 mark of
the most probable induced tree (max-product sums) or a 0/1 mark of a tree
drawn from the posterior (sampling sums). Combining it with each
component's mean, mode or draw fills in the missing inputs. Models are read
as a chain of layers: the layers before the leaf (``FlatToRegions``,
``NormalizeStandardScore``, ``InputDropout``), the leaf, and the SPN above it.
"""

from libspn_keras.models.queries.chain import split_at_leaf, sum_ops_replaced
from libspn_keras.models.queries.completion import COMPLETION_METHODS, complete, fill_from_signal, reconstruct
from libspn_keras.models.queries.evidence import empty_evidence, mark_missing, missing_mask
from libspn_keras.models.queries.mixin import QueryMixin
from libspn_keras.models.queries.signal import leaf_signal

__all__ = [
    "COMPLETION_METHODS",
    "QueryMixin",
    "complete",
    "empty_evidence",
    "fill_from_signal",
    "leaf_signal",
    "mark_missing",
    "missing_mask",
    "reconstruct",
    "split_at_leaf",
    "sum_ops_replaced",
]
