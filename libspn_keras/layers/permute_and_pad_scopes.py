"""Per-decomposition permutation of scopes, with marginalized padding scopes."""

import numpy as np
import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.cell_scopes import (
    PerDecomposition,
    cell_scopes,
    holds_decomposition_pairs,
    layout_of,
    per_decomposition,
    record_cell_scopes,
    root_source,
)
from libspn_keras.layers.full_precision import FullPrecisionLayer
from libspn_keras.layers.validation import check_known, check_rank
from libspn_keras.math.gradients import custom_gradient


def permute_and_pad(x, permutations):
    """Gathers scopes per decomposition; an index of -1 (0.6.0's) or of the number of scopes pads (log 1 = 0).

    Args:
        x: ``[batch, scopes, decomps, nodes]``.
        permutations: int ``[decomps, scopes_out]``.

    Returns:
        ``[batch, scopes_out, decomps, nodes]``.
    """
    num_scopes, num_decomps, num_nodes = x.shape[1], x.shape[2], x.shape[3]
    num_out = permutations.shape[1]
    permutations = tf.cast(permutations, tf.int32)
    permutations = tf.where(permutations < 0, num_scopes, permutations)
    # Position of every (scope, decomposition) in the flattened output; padding scopes gather from an extra row.
    flat_index = tf.reshape(tf.transpose(permutations) * num_decomps + tf.range(num_decomps)[tf.newaxis, :], [-1])
    output_slot = tf.reshape(tf.range(num_out)[:, tf.newaxis] * num_decomps + tf.range(num_decomps), [-1])
    # Each real input scope appears exactly once per decomposition, so the backward pass is a gather too.
    inverse_index = tf.scatter_nd(tf.expand_dims(flat_index, -1), output_slot, [(num_scopes + 1) * num_decomps])[
        : num_scopes * num_decomps
    ]

    @custom_gradient
    def gather(x):
        flat = tf.reshape(x, [-1, num_scopes * num_decomps, num_nodes])
        padded = tf.pad(flat, [[0, 0], [0, num_decomps], [0, 0]])
        out = tf.reshape(tf.gather(padded, flat_index, axis=1), [-1, num_out, num_decomps, num_nodes])

        def grad(dy):
            flat_dy = tf.reshape(dy, [-1, num_out * num_decomps, num_nodes])
            return tf.reshape(tf.gather(flat_dy, inverse_index, axis=1), [-1, num_scopes, num_decomps, num_nodes])

        return out, grad

    return gather(x)


@keras.utils.register_keras_serializable(package="libspn_keras")
class PermuteAndPadScopes(FullPrecisionLayer):
    """Reorders the scopes of each decomposition and inserts padding scopes.

    Input ``[batch, scopes, decomps, nodes]``, output
    ``[batch, scopes_out, decomps, nodes]``. Entry ``permutations[r][j]`` is
    the input scope placed at position ``j`` of decomposition ``r``; ``-1``
    places a padding scope whose nodes are 0 in log space (marginalized).

    Args:
        permutations: Nested list ``[decomps][scopes_out]`` of scope indices
            or ``-1``; every input scope must appear exactly once per decomposition.
            ``None`` (as in 0.6.0): set ``layer.permutations`` before the layer is built.
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    def __init__(self, permutations=None, **kwargs):
        super().__init__(**kwargs)
        self.permutations = None if permutations is None else as_permutations(self, permutations)

    def build(self, input_shape):
        check_rank(self, input_shape, 4, "[batch, scopes, decomps, nodes]")
        check_known(self, input_shape, (1, 2, 3), "scopes, decompositions and nodes")
        if self.permutations is None:
            raise ValueError(
                f"PermuteAndPadScopes '{self.name}' has no permutations: pass permutations=[[...], ...] (one list "
                f"of scope indices or -1 per decomposition) or set layer.permutations before building it."
            )
        self.permutations = as_permutations(self, self.permutations)
        validate_permutations(self, np.asarray(self.permutations), input_shape[1], input_shape[2])

    def call(self, x):
        return permute_and_pad(x, tf.constant(self.permutations, dtype=tf.int32))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], len(self.permutations[0]), input_shape[2], input_shape[3])

    def compute_output_spec(self, x, *args, **kwargs):
        output = super().compute_output_spec(x, *args, **kwargs)
        if not self.built:
            return record_cell_scopes(output, None, x)  # keeps the layout
        scopes = cell_scopes(x, recorded_only=True)
        table = np.asarray(self.permutations)
        if scopes is None and layout_of(x) is not None and (table < 0).any():
            # Before the leaf the values are raw inputs, where the padding's 0 is an observed value, not log 1.
            raise ValueError(
                f"{type(self).__name__} '{self.name}' pads scopes (-1 in its permutations) of raw inputs, before the "
                f"leaf: the leaf would read each padding scope's 0 as an observed value, and the network would no "
                f"longer be a normalized distribution. Place it after the leaf layer, where padding is log 1 "
                f"(marginalized)."
            )
        if scopes is None:
            return record_cell_scopes(output, None, x)  # keeps the layout
        rows, cols = scopes
        if (table == table[:1]).all():  # one permutation for every column: the rows move, padding covers nothing
            padded = np.concatenate([rows, np.zeros((1, rows.shape[1]), dtype=bool)])
            return record_cell_scopes(output, (padded[np.where(table[0] < 0, rows.shape[0], table[0])], cols), x)
        source = stand_in_source(x, scopes, table)
        if source is not None and holds_decomposition_pairs(x):  # the pairs each output row holds, column by column
            pairs = PerDecomposition(source.source, source.decomps, source.positions)
            return record_cell_scopes(output, (source.cover, cols), x, pairs)
        if (cols == cols[:1]).all() and rows.sum(axis=0).max(initial=0) <= 1:
            # Columns of one scope (decompositions) over disjoint rows: every column places every input row once,
            # so output rows are disjoint in each column and jointly cover the same rows. Tracked as one stand-in
            # row each, which keeps both facts the layers above check, and with the positions each holds in each
            # column, for joins with other rows of the same input (layers.cell_scopes.PerDecomposition).
            return record_cell_scopes(output, (np.eye(table.shape[1], dtype=bool), cols), x, source)
        raise ValueError(
            f"{type(self).__name__} '{self.name}': its permutations differ between columns whose cells cover "
            f"different parts of the input, so the scopes of its output cannot be checked and products above "
            f"it could multiply a variable with itself. Permute region tensors (from FlatToRegions), or use the "
            f"same permutation for every column."
        )

    def get_config(self):
        config = super().get_config()
        config.update(permutations=self.permutations)
        return config


def stand_in_source(x, scopes, table):
    """The :class:`~libspn_keras.layers.cell_scopes.PerDecomposition` source of the stand-in rows that ``table``
    (``[decomps, rows out]``) makes of ``x``'s rows (recorded as ``scopes``), or ``None`` if ``x`` has no source."""
    source = root_source(x)
    held = per_decomposition(x, scopes) if source is not None else None
    if held is None:
        return None
    decomps = table.shape[0]
    held = held.reshape(held.shape[0], decomps, -1)
    held = np.concatenate([held, np.zeros((1, *held.shape[1:]), dtype=bool)])  # the padding holds nothing
    rows = np.where(table < 0, held.shape[0] - 1, table)  # [decomps, rows out]
    cover = held[rows, np.arange(decomps)[:, None]]  # [decomps, rows out, positions]
    positions = cover.shape[2]
    return PerDecomposition(source, decomps, positions, cover.transpose(1, 0, 2).reshape(table.shape[1], -1))


def as_permutations(layer, permutations):
    """``permutations`` as a list of lists of Python ints, after checking it is a table of integers ``>= -1``."""
    name = f"{type(layer).__name__} '{layer.name}'"
    try:
        table = np.asarray(permutations)
    except ValueError:  # rows of different lengths
        table = None
    integral = table is not None and (
        np.issubdtype(table.dtype, np.integer)
        or (np.issubdtype(table.dtype, np.floating) and np.all(np.isfinite(table)) and np.all(table == np.round(table)))
    )
    if not integral or table.ndim != 2 or table.dtype == bool or np.any(table < -1):
        raise ValueError(
            f"{name}: permutations must be a table of ints, one row of scope indices (and -1 for padding) per "
            f"decomposition, all rows of the same length; got {permutations!r}."
        )
    return table.astype("int64").tolist()


def validate_permutations(layer, permutations, num_scopes, num_decomps):
    """Raises ``ValueError`` unless each row holds every scope once, plus ``-1`` paddings."""
    name = f"{type(layer).__name__} '{layer.name}'"
    if permutations.ndim != 2 or permutations.shape[0] != num_decomps:
        raise ValueError(
            f"{name}: permutations must have shape [decomps={num_decomps}, scopes_out], got {permutations.shape}."
        )
    for row in permutations:
        scopes = np.sort(row[row >= 0])
        if not np.array_equal(scopes, np.arange(num_scopes)):
            raise ValueError(
                f"{name}: every decomposition must list each of the {num_scopes} input scopes exactly once "
                f"(and -1 for padding); got {row.tolist()}."
            )
