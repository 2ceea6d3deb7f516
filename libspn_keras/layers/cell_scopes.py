"""Which image rows and columns every cell of a spatial tensor covers, tracked while a model is built.

Keras builds a model by calling each layer on symbolic tensors; spatial layers
attach the cover of their output cells to the tensor they return, so that the
next product can refuse windows whose cells overlap (a product that is not
decomposable) and the layers that mix cells (:class:`~libspn_keras.layers.SpatialToRegions`,
``RootSum``, ``Undecompose``) can refuse cells of different scopes. Rows and
columns are tracked apart (see :func:`libspn_keras.math.spatial.axis_product_scopes`).

The record starts at the leaves, which need to know what their input is.
Region tensors have the same rank as images (``[batch, scopes, decomps,
nodes]``) but their columns are decompositions of the same variables, so
:class:`~libspn_keras.layers.FlatToRegions` marks its output as region
layout; a ``keras.Input`` is read as an image, and the library's elementwise
layers (and every layer that keeps a record) pass the layout on. A leaf on an
image records one image cell per output cell; on a region tensor, one row per
scope and one column that every decomposition covers. A leaf whose input
comes from a layer outside the library cannot tell and records nothing:
tensors without a record are checked by the products as one image cell per
cell and pass the layers that mix cells.

A record also names its source: the ``keras.Input`` whose positions the
leaf's cells are (reached through layers that keep positions, such as
``FlatToRegions``), else the leaf's own input. A ``keras.layers.Concatenate``
along cells (axis 1 or 2) of recorded tensors of one source gets the joined
record, so a product over a leaf output concatenated with itself is refused;
tensors of different ``keras.Input`` tensors get a record over the positions
of all of them (:class:`JoinedInputs`). A join along nodes (axis 3) of
tensors with the same record keeps it; of tensors whose cells cover
different variables, it marks its output so that sums above it refuse
(:func:`refuse_mixed_nodes`). Rows that stand in for positions which differ
between decompositions (a per-decomposition ``PermuteAndPadScopes``) keep
their input's source as :class:`PerDecomposition`, with the positions each
row holds in every decomposition. A join with other rows of that source is
recorded over pairs (decomposition, position), so a product above it is
refused exactly where some decomposition would multiply a variable with
itself.
"""

import numpy as np
from tensorflow import keras

_RECORD = "_libspn_keras_cell_scopes"
_LAYOUT = "_libspn_keras_layout"
_SOURCE = "_libspn_keras_cell_source"
_MIXED_NODES = "_libspn_keras_mixed_nodes"
_BOUNDED = "_libspn_keras_bounded_cells"
REGION, IMAGE = "region", "image"


def cell_scopes(tensor, recorded_only=False):
    """``(rows, cols)``, bool ``[rows, image rows]`` and ``[cols, image cols]``, or ``None`` if sizes are unknown.

    Without a record, every cell is its own part of the image, unless
    ``recorded_only`` asks for ``None`` then.
    """
    shape = getattr(tensor, "shape", None)
    if shape is None or len(shape) != 4 or shape[1] is None or shape[2] is None:
        return None
    record = getattr(tensor, _RECORD, None)
    if record is None:
        record = _concatenated_record(tensor)
    if record is not None and (record[0].shape[0], record[1].shape[0]) == (shape[1], shape[2]):
        return record
    if recorded_only:
        return None
    return np.eye(shape[1], dtype=bool), np.eye(shape[2], dtype=bool)


class PerDecomposition:
    """The source of a record whose rows hold different positions of ``source`` in different decompositions.

    ``cover`` (bool ``[rows, decomps * positions]``) marks the pairs
    (decomposition, position of ``source``) each stand-in row holds,
    decomposition-major, for ``decomps`` decompositions of ``positions``
    positions; a record of this source indexes its rows (the stand-in rows,
    or groups of them made by products). Without ``cover`` the record's rows
    index those pairs themselves (the record of a join, or of a permutation
    of one).
    """

    def __init__(self, source, decomps, positions, cover=None):
        self.source, self.decomps, self.positions, self.cover = source, decomps, positions, cover


def root_source(tensor):
    """The source whose positions the cells of ``tensor`` are or stand in for (see the module doc), or ``None``."""
    source = getattr(tensor, _SOURCE, None)
    return source.source if isinstance(source, PerDecomposition) else source


def per_decomposition(tensor, record):
    """The rows of ``tensor``'s ``record`` as bool ``[rows, decomps * positions]``: the pairs (decomposition,
    position of the root source) each row holds; ``None`` where the record's width does not fit."""
    source = getattr(tensor, _SOURCE, None)
    rows = record[0]
    if not isinstance(source, PerDecomposition):
        return np.tile(rows, (1, tensor.shape[2]))
    if source.decomps != tensor.shape[2]:  # regrouped since (Undecompose)
        return None
    if source.cover is None:
        return rows if rows.shape[1] == source.decomps * source.positions else None
    if rows.shape[1] != source.cover.shape[0]:
        return None
    return (rows.astype(np.int64) @ source.cover.astype(np.int64)) > 0


_INHERITED = object()


def record_cell_scopes(tensor, scopes, inputs=None, source=_INHERITED):
    """Attaches ``scopes`` (as from :func:`cell_scopes`) to a symbolic output tensor and returns it.

    With ``inputs`` given, the output also takes their layout (:func:`layout_of`) and, unless ``source`` is given
    (``None``: unknown), their source (see the module doc).
    """
    if scopes is not None:
        setattr(tensor, _RECORD, scopes)
        source = getattr(inputs, _SOURCE, None) if source is _INHERITED else source
        if source is not None:
            setattr(tensor, _SOURCE, source)
    _carry_marks(tensor, [inputs])
    layout = layout_of(inputs)
    if layout is not None:
        setattr(tensor, _LAYOUT, layout)
    return tensor


def _carry_marks(tensor, parts):
    """Marks ``tensor`` as mixing nodes of different scopes or as having bounded cells where any of ``parts`` is."""
    for mark in (_MIXED_NODES, _BOUNDED):
        if any(getattr(part, mark, False) for part in parts):
            setattr(tensor, mark, True)


def mark_region_layout(tensor):
    """Marks a symbolic tensor as region layout ``[batch, scopes, decomps, ...]`` (not an image) and returns it."""
    setattr(tensor, _LAYOUT, REGION)
    return tensor


def layout_of(tensor):
    """``REGION``, ``IMAGE`` or ``None`` (unknown) for a symbolic tensor (see the module doc)."""
    layout = getattr(tensor, _LAYOUT, None)
    if layout is not None:
        return layout
    history = getattr(tensor, "_keras_history", None)  # (operation, node index, tensor index) of a KerasTensor
    if history and isinstance(history[0], keras.layers.InputLayer):
        return IMAGE
    return None


def is_region_layout(tensor):
    """Whether a symbolic tensor descends from :class:`~libspn_keras.layers.FlatToRegions`."""
    return layout_of(tensor) == REGION


def holds_leaf_values(tensor):
    """Whether a symbolic tensor comes from ``FlatToRegions`` or a leaf (not raw variables of the model input).

    Region layout, or a record of cells (which starts at a leaf); a tensor
    from layers outside the library may say neither.
    """
    return is_region_layout(tensor) or getattr(tensor, _RECORD, None) is not None


def record_leaf_cells(inputs, output):
    """Records the cells of a leaf's ``output`` and returns it.

    On an image every cell is its own image cell. On a region tensor every
    scope (axis 1) is its own row and every decomposition (axis 2) covers the
    same single column, so that products across decompositions and layers
    that mix scopes are refused. On an input of unknown layout nothing.
    """
    layout = layout_of(inputs)
    shape = getattr(output, "shape", None)
    if layout is None or shape is None or len(shape) != 4 or shape[1] is None or shape[2] is None:
        return output
    setattr(output, _SOURCE, variable_source(inputs))
    if layout == REGION:
        return record_cell_scopes(output, (np.eye(shape[1], dtype=bool), np.ones((shape[2], 1), dtype=bool)), inputs)
    return record_cell_scopes(output, cell_scopes(output), inputs)


def _first_call_of(tensor):
    """The operation that made the symbolic ``tensor`` in its first call, else ``None``.

    Keras's public ``Layer.input`` holds the inputs of a layer's first call only.
    """
    history = getattr(tensor, "_keras_history", None)  # (operation, node index, tensor index)
    return history[0] if history and history[1] == 0 else None


def variable_source(tensor):
    """The tensor whose positions the cells of a leaf on ``tensor`` are (see the module doc).

    The ``keras.Input`` that ``tensor`` comes from through layers with
    ``keeps_variable_positions`` (each called first on it), else ``tensor``.
    """
    current = tensor
    while True:
        operation = _first_call_of(current)
        if not getattr(operation, "keeps_variable_positions", False) or not hasattr(operation.input, "shape"):
            return current
        current = operation.input


class JoinedInputs:
    """The source of a record over the positions of several ``keras.Input`` tensors, ``parts`` of
    ``(input, rows, cols)``: its rows (and columns) index the first input's row (column) positions, then the next
    one's, and so on. The cells of a join of tensors from different inputs cover pairs of one input's row and
    another's column as well; those are no variables, so only the checks' reasons to refuse can grow."""

    def __init__(self, parts):
        self.parts = tuple(parts)


def _input_parts(source, record):
    """``(input, rows, cols)`` of every ``keras.Input`` a record of ``source`` spans, or ``None`` if the source is
    not one (or a join of several)."""
    if isinstance(source, JoinedInputs):
        return source.parts
    history = getattr(source, "_keras_history", None)
    if not history or not isinstance(history[0], keras.layers.InputLayer):
        return None
    return ((source, record[0].shape[1], record[1].shape[1]),)


def _over_inputs(parts, covers, inputs_of_part, axis):
    """Each part's ``covers`` (``axis`` 0: rows, 1: columns) placed among the positions of all ``inputs_of_part``."""
    offsets, total = {}, 0
    for part in parts:
        offsets[id(part[0])] = total
        total += part[1 + axis]
    placed = []
    for cover, own in zip(covers, inputs_of_part):
        full = np.zeros((cover.shape[0], total), dtype=bool)
        start = 0
        for part in own:
            width = part[1 + axis]
            full[:, offsets[id(part[0])] : offsets[id(part[0])] + width] = cover[:, start : start + width]
            start += width
        placed.append(full)
    return placed


def _over_all_inputs(inputs, records):
    """``(inputs_of_part, parts, rows, cols)``: the ``keras.Input`` tensors each part spans, all of them once (a
    :class:`JoinedInputs`' ``parts``), and every part's rows and columns placed among their positions; ``None`` if a
    part's source is no input, or one input has records of different widths."""
    inputs_of_part = [_input_parts(getattr(part, _SOURCE, None), record) for part, record in zip(inputs, records)]
    if None in inputs_of_part:
        return None
    parts, widths = [], {}
    for own in inputs_of_part:
        for part in own:
            if widths.setdefault(id(part[0]), part[1:]) != part[1:]:
                return None
            if all(part[0] is not known[0] for known in parts):
                parts.append(part)
    rows = _over_inputs(parts, [record[0] for record in records], inputs_of_part, 0)
    cols = _over_inputs(parts, [record[1] for record in records], inputs_of_part, 1)
    return inputs_of_part, parts, rows, cols


def _joined_over_inputs(inputs, records, axis):
    """The joined record and source of parts from different ``keras.Input`` tensors (along ``axis`` 1 or 2), or
    ``None``: parts of one input set must line up along the other axis, parts of others may not share an input."""
    placed = _over_all_inputs(inputs, records)
    if placed is None:
        return None
    inputs_of_part, parts, rows, cols = placed
    groups = {}
    for index, own in enumerate(inputs_of_part):
        key = frozenset(id(part[0]) for part in own)
        if any(key & other and key != other for other in groups):
            return None
        groups.setdefault(key, []).append(index)
    along, other = (rows, cols) if axis == 1 else (cols, rows)
    lined_up = np.zeros_like(other[0])
    for members in groups.values():
        if any(not np.array_equal(other[index], other[members[0]]) for index in members):
            return None
        lined_up |= other[members[0]]
    joined = np.concatenate(along, axis=0)
    record = (joined, lined_up) if axis == 1 else (lined_up, joined)
    return record, JoinedInputs(parts)


def _rows_by_decomposition(inputs, records):
    """``(rows, positions)``: every part's rows over (decomposition, position) pairs
    (:func:`per_decomposition`), and how many positions of the root source there are; ``None`` where a part's
    record does not fit or the parts index different numbers of positions."""
    rows = [per_decomposition(part, record) for part, record in zip(inputs, records)]
    positions = set()
    for part, record in zip(inputs, records):
        source = getattr(part, _SOURCE, None)
        positions.add(source.positions if isinstance(source, PerDecomposition) else record[0].shape[1])
    if any(part is None for part in rows) or len(positions) != 1:
        return None
    return rows, positions.pop()


def _joined_by_decomposition(inputs, records, axis, source):
    """The joined record over (decomposition, position) pairs (:class:`PerDecomposition`) of region parts of one
    source, and its source; ``None`` where they do not line up. Along rows (axis 1) the parts' pairs are the same;
    along decompositions (axis 2) each part's decompositions follow the one before."""
    by_decomposition = _rows_by_decomposition(inputs, records)
    if by_decomposition is None or any(layout_of(part) != REGION for part in inputs):
        return None
    rows, positions = by_decomposition
    if axis == 1:
        if len({part.shape[1] for part in rows}) != 1 or any(
            not np.array_equal(record[1], records[0][1]) for record in records
        ):
            return None
        joined = (np.concatenate(rows, axis=0), records[0][1])
    else:
        joined = (np.concatenate(rows, axis=1), np.concatenate([record[1] for record in records], axis=0))
    return joined, PerDecomposition(source, joined[0].shape[1] // positions, positions)


def _nodes_of_different_scopes(tensor, inputs, records, source):
    """Records a join along nodes of parts of different sources or records over the variables of all: where the
    parts' cells cover different variables, as covering, in every cell, all that any part's does (for the products
    above), marked (sums above it would mix nodes of different scopes: :func:`refuse_mixed_nodes`). Returns that
    record, or ``None`` where the parts' records do not line up over known variables (nothing is marked then:
    parts of unknown sources may hold the same variables)."""
    if len({id(root_source(part)) for part in inputs}) > 1:
        placed = _over_all_inputs(inputs, records)
        if placed is None:
            return None
        _, parts, rows, cols = placed
        source = JoinedInputs(parts)
    elif any(isinstance(getattr(part, _SOURCE, None), PerDecomposition) for part in inputs):
        by_decomposition = _rows_by_decomposition(inputs, records)
        if by_decomposition is None:
            return None
        rows, positions = by_decomposition
        cols = [record[1] for record in records]
        source = PerDecomposition(source, tensor.shape[2], positions)
    else:
        rows, cols = [record[0] for record in records], [record[1] for record in records]
    if len({part.shape for part in rows}) != 1 or len({part.shape for part in cols}) != 1:
        return None
    record = (np.logical_or.reduce(rows), np.logical_or.reduce(cols))
    record_cell_scopes(tensor, record, inputs[0], source)
    if any(not (np.array_equal(r, rows[0]) and np.array_equal(c, cols[0])) for r, c in zip(rows, cols)):
        setattr(tensor, _MIXED_NODES, True)
    return record


def refuse_mixed_nodes(tensor, label):
    """Raises a ``ValueError`` if ``tensor`` descends from a ``keras.layers.Concatenate`` along nodes of cells that
    cover different variables (a sum over them would not be complete). For the layers that sum nodes."""
    if getattr(tensor, _MIXED_NODES, False):
        raise ValueError(
            f"{label}: its input descends from a keras.layers.Concatenate along nodes (axis 3) of tensors whose cells "
            f"cover different variables, so it would add nodes of different scopes and the network would no longer "
            f"be a normalized distribution. Concatenate along nodes only tensors over the same cells (e.g. sum "
            f"layers over the same input), or join the variables with a product layer first."
        )


def _concatenated_record(tensor):
    """The joined record of a ``keras.layers.Concatenate`` output, or ``None`` (also kept on the tensor).

    Along cells (axis 1 or 2), of parts whose leaves read the same input, or
    different ``keras.Input`` tensors; along nodes (axis 3), of parts with
    the same record.
    """
    operation = _first_call_of(tensor)
    if not isinstance(operation, keras.layers.Concatenate) or len(tensor.shape) != 4:
        return None
    axis = operation.axis % 4
    inputs = list(operation.input) if isinstance(operation.input, (list, tuple)) else []
    if axis == 0 or not inputs:
        return None
    # The parts' records first: a part that is a join itself gets its record, source and marks only then.
    records = [cell_scopes(part, recorded_only=True) for part in inputs]
    _carry_marks(tensor, inputs)
    sources = {id(root_source(part)) for part in inputs}
    if None in records or id(None) in sources:
        return None
    source = root_source(inputs[0])
    if axis == 3:
        same = len(sources) == 1 and len({id(getattr(part, _SOURCE, None)) for part in inputs}) == 1
        if same and all(
            np.array_equal(record[0], records[0][0]) and np.array_equal(record[1], records[0][1]) for record in records
        ):
            record_cell_scopes(tensor, records[0], inputs[0])
            return records[0]
        return _nodes_of_different_scopes(tensor, inputs, records, source)
    if len(sources) > 1:
        joined = _joined_over_inputs(inputs, records, axis)
        if joined is None:
            return None
        record_cell_scopes(tensor, joined[0], inputs[0], joined[1])
        return joined[0]
    per_decomposition_parts = any(isinstance(getattr(part, _SOURCE, None), PerDecomposition) for part in inputs)
    if per_decomposition_parts or (
        axis == 2
        and layout_of(inputs[0]) == REGION
        and any(not np.array_equal(record[0], records[0][0]) for record in records)
    ):
        # Rows that differ between decompositions: every part's rows over (decomposition, position) pairs.
        joined = _joined_by_decomposition(inputs, records, axis, source)
        if joined is not None:
            record_cell_scopes(tensor, joined[0], inputs[0], joined[1])
            return joined[0]
        return None
    other = 1 if axis == 1 else 0  # the covers along the other axis must agree for the cells to line up
    widths = {(record[0].shape[1], record[1].shape[1]) for record in records}
    if len(widths) != 1:
        return None
    lined_up = records[0][other]
    if any(not np.array_equal(record[other], lined_up) for record in records):
        # Each part's cells cover its own rows (columns) along the other axis: recorded as covering those of every
        # part, a bound that the products can check against but that cannot show a cell to cover all the image.
        lined_up = np.logical_or.reduce([record[other] for record in records])
        setattr(tensor, _BOUNDED, True)
    joined = np.concatenate([record[axis - 1] for record in records], axis=0)
    record = (joined, lined_up) if axis == 1 else (lined_up, joined)
    record_cell_scopes(tensor, record, inputs[0], source)  # with its inputs' layout
    return record


def describe_cells(cover, axis_name):
    """``"rows 0-3"``-style text for the image rows (or columns) a bool cover marks."""
    covered = np.flatnonzero(cover)
    if covered.size == 0:
        return f"no {axis_name}s"
    if covered.size == covered[-1] - covered[0] + 1:
        return f"{axis_name}s {covered[0]}-{covered[-1]}" if covered.size > 1 else f"{axis_name} {covered[0]}"
    return f"{axis_name}s {covered.tolist()}"


def holds_decomposition_pairs(tensor):
    """Whether the rows of ``tensor``'s record index (decomposition, position) pairs (see :class:`PerDecomposition`)."""
    source = getattr(tensor, _SOURCE, None)
    return isinstance(source, PerDecomposition) and source.cover is None


def describe_scopes(tensor, cover):
    """``"scopes 0-3"``-style text for the scopes a bool cover of ``tensor``'s region record marks; for a record over
    (decomposition, position) pairs (:class:`PerDecomposition`), those of the first decomposition that has any."""
    if not holds_decomposition_pairs(tensor):
        return describe_cells(cover, "scope")
    by_decomposition = cover.reshape(getattr(tensor, _SOURCE).decomps, -1)
    decomposition = int(np.flatnonzero(by_decomposition.any(axis=1))[0]) if cover.any() else 0
    return f"{describe_cells(by_decomposition[decomposition], 'scope')} in decomposition {decomposition}"


def refuse_cells_of_different_scopes(tensor, label, consequence, advice, column_groups=1):
    """Raises a ``ValueError`` if ``tensor``'s recorded cells do not all cover the whole image.

    For layers that mix the cells of a spatial tensor (``SpatialToRegions``,
    ``RootSum``, ``Undecompose``): ``consequence`` says what mixing would
    break, ``advice`` how to fix the model. Tensors without a record pass.
    With ``column_groups`` (``Undecompose``'s ``num_decomps``) only the
    columns of each of that many groups of adjacent columns are mixed: they
    must agree within a group and need not cover the whole image.
    """
    scopes = cell_scopes(tensor, recorded_only=True)
    if getattr(tensor, _BOUNDED, False):
        raise ValueError(
            f"{label}: its input descends from a keras.layers.Concatenate whose parts' cells cover different rows "
            f"(columns) along the axis it did not join, so which variables each cell covers is only bounded, and "
            f"mixing the cells could break the network's normalization. Concatenate tensors whose cells line up "
            f"(e.g. with the same permutation), or join their variables with products before the Concatenate."
        )
    if scopes is None:
        return
    region = is_region_layout(tensor)
    for axis, axis_name in enumerate(("scope" if region else "row", "column")):
        cover = scopes[axis]
        size = cover.shape[0] // column_groups if axis == 1 else cover.shape[0]
        first = np.repeat(cover[::size], size, axis=0)  # the first cell of each group, for every cell
        differs = np.flatnonzero((cover != first).any(axis=1))
        if differs.size or ((axis == 0 or column_groups == 1) and not cover.all()):
            other = int(differs[0]) if differs.size else 0
            base = other // size * size
            if region and axis == 0:
                first_cells, other_cells = describe_scopes(tensor, cover[base]), describe_scopes(tensor, cover[other])
            else:
                first_cells, other_cells = (
                    describe_cells(cover[base], axis_name),
                    describe_cells(cover[other], axis_name),
                )
            raise ValueError(
                f"{label}: its input cells cover different parts of the {'input' if region else 'image'} (along "
                f"axis {axis + 1}, cell {base} covers {'' if region else 'image '}"
                f"{first_cells} and cell {other} {other_cells}"
                f"), so {consequence}. "
                + ("Join the scopes first with DenseProduct / ReduceProduct." if region else advice)
                + (
                    " (If axis 2 holds decompositions of the same variables rather than image columns, start the "
                    "model with FlatToRegions, which marks them as such.)"
                    if axis == 1 and not region
                    else ""
                )
            )


def record_one_cell(output, inputs):
    """Records ``output`` as one region cell covering all that ``inputs``' record does, and returns it.

    For the layers that mix every cell of their input into one
    (:class:`~libspn_keras.layers.SpatialToRegions`), after
    :func:`refuse_cells_of_different_scopes` passed: each cell then covers
    all positions of the input's source.
    """
    scopes = cell_scopes(inputs, recorded_only=True)
    if scopes is None:
        return mark_region_layout(record_cell_scopes(output, None, inputs))  # keeps the input's marks
    source = getattr(inputs, _SOURCE, None)
    if isinstance(source, PerDecomposition):
        rows = np.ones((1, source.positions), dtype=bool)
        source = source.source
    else:
        rows = scopes[0].any(axis=0, keepdims=True)
    record_cell_scopes(output, (rows, scopes[1].any(axis=0, keepdims=True)), inputs, source)
    return mark_region_layout(output)


#: How to join the cells of a spatial tensor into one scope, for the errors of the layers that mix them.
JOIN_CELLS_ADVICE = (
    "Join every cell into one scope first: end the spatial products with a Conv2DProduct with padding='final' "
    "(dilations doubled at every overlapping product), or with windows that tile the whole remaining grid"
)


class KeepsCellScopes:
    """Mixin for layers whose output cells cover what their input cells cover (sums, dropout, elementwise layers).

    The output keeps the input's record and layout.
    """

    #: Whether the layer adds the nodes of each cell (a sum), so that nodes of different scopes are refused.
    sums_nodes = False

    def compute_output_spec(self, *args, **kwargs):
        inputs = args[0] if args else kwargs.get("inputs", kwargs.get("x"))
        if self.sums_nodes:
            cell_scopes(inputs, recorded_only=True)  # a join's record (and its marks) are made when first read
            refuse_mixed_nodes(inputs, f"{type(self).__name__} '{self.name}'")
        output = super().compute_output_spec(*args, **kwargs)
        return kept_cell_scopes(output, inputs)


def kept_cell_scopes(output, inputs):
    """``output`` with the record of ``inputs`` where both have the same cells (see :class:`KeepsCellScopes`)."""
    if getattr(output, "shape", None) is None or getattr(inputs, "shape", None) is None:
        return output
    if len(output.shape) != len(inputs.shape) or tuple(output.shape[1:3]) != tuple(inputs.shape[1:3]):
        return output
    return record_cell_scopes(output, cell_scopes(inputs, recorded_only=True), inputs)
