"""Which image rows and columns every cell of a spatial tensor covers, tracked while a model is built.

Keras builds a model by calling each layer on symbolic tensors; spatial layers
attach the cover of their output cells to the tensor they return, so that the
next product can refuse windows whose cells overlap (a product that is not
decomposable) and :class:`~libspn_keras.layers.SpatialToRegions` can refuse
cells of different scopes. Rows and columns are tracked apart (see
:func:`libspn_keras.math.spatial.axis_product_scopes`). A tensor without a
record (the leaves' output, or any other layer's) has one image cell per cell
for the products; SpatialToRegions checks only tensors with a record, since
without products above the leaves nothing says what the cells hold.
"""

import numpy as np

_RECORD = "_libspn_keras_cell_scopes"


def cell_scopes(tensor, recorded_only=False):
    """``(rows, cols)``, bool ``[rows, image rows]`` and ``[cols, image cols]``, or ``None`` if sizes are unknown.

    Without a record, every cell is its own part of the image, unless
    ``recorded_only`` asks for ``None`` then.
    """
    shape = getattr(tensor, "shape", None)
    if shape is None or len(shape) != 4 or shape[1] is None or shape[2] is None:
        return None
    record = getattr(tensor, _RECORD, None)
    if record is not None and (record[0].shape[0], record[1].shape[0]) == (shape[1], shape[2]):
        return record
    if recorded_only:
        return None
    return np.eye(shape[1], dtype=bool), np.eye(shape[2], dtype=bool)


def record_cell_scopes(tensor, scopes):
    """Attaches ``scopes`` (as from :func:`cell_scopes`) to a symbolic output tensor and returns it."""
    if scopes is not None:
        setattr(tensor, _RECORD, scopes)
    return tensor


def describe_cells(cover, axis_name):
    """``"rows 0-3"``-style text for the image rows (or columns) a bool cover marks."""
    covered = np.flatnonzero(cover)
    if covered.size == 0:
        return f"no {axis_name}s"
    if covered.size == covered[-1] - covered[0] + 1:
        return f"{axis_name}s {covered[0]}-{covered[-1]}" if covered.size > 1 else f"{axis_name} {covered[0]}"
    return f"{axis_name}s {covered.tolist()}"


def refuse_cells_of_different_scopes(tensor, label, consequence, advice):
    """Raises a ``ValueError`` if ``tensor``'s recorded cells do not all cover the whole image.

    For layers that mix the cells of a spatial tensor (``SpatialToRegions``,
    ``RootSum``, ``Undecompose``): ``consequence`` says what mixing would
    break, ``advice`` how to fix the model. Tensors without a record pass.
    """
    scopes = cell_scopes(tensor, recorded_only=True)
    if scopes is None:
        return
    for axis, axis_name in enumerate(("row", "column")):
        cover = scopes[axis]
        differs = np.flatnonzero((cover != cover[:1]).any(axis=1))
        if differs.size or not cover.all():
            other = differs[0] if differs.size else 0
            first, second = describe_cells(cover[0], axis_name), describe_cells(cover[other], axis_name)
            raise ValueError(
                f"{label}: its input cells cover different parts of the image (along axis {axis + 1}, cell 0 covers "
                f"image {first} and cell {other} {second}), so {consequence}. {advice}"
            )


#: How to join the cells of a spatial tensor into one scope, for the errors of the layers that mix them.
JOIN_CELLS_ADVICE = (
    "Join every cell into one scope first: end the spatial products with a Conv2DProduct with padding='final' "
    "(dilations doubled at every overlapping product), or with windows that tile the whole remaining grid"
)


class KeepsCellScopes:
    """Mixin for layers whose output cells cover what their input cells cover (sums, dropout)."""

    def compute_output_spec(self, *args, **kwargs):
        output = super().compute_output_spec(*args, **kwargs)
        inputs = args[0] if args else kwargs.get("inputs", kwargs.get("x"))
        if getattr(inputs, _RECORD, None) is not None and getattr(output, "shape", None) is not None:
            if tuple(output.shape[1:3]) == tuple(inputs.shape[1:3]):
                record_cell_scopes(output, getattr(inputs, _RECORD))
        return output
