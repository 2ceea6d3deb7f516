"""Checks shared by the layers, models and builders: constructor arguments and the shapes layers are built for.

The argument helpers live in :mod:`libspn_keras.arguments` and
:mod:`libspn_keras.keras_objects` (so that modules below the layers can use
them too) and are re-exported here: each takes
``(owner, argument, value)`` and raises :class:`ArgumentError`, a
``ValueError`` and a ``TypeError``, naming the owner and the argument.
"""

from libspn_keras.arguments import (  # noqa: F401 (re-exported for the layers)
    ArgumentError,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_int_list,
    check_seed,
    is_int,
    positive_int,
    positive_int_pair,
)
from libspn_keras.keras_objects import keras_object  # noqa: F401 (re-exported for the layers)


def layer_label(layer):
    """``"ClassName 'layer_name'"``, how every error names a layer."""
    return f"{type(layer).__name__} '{layer.name}'"


def check_rank(layer, input_shape, rank, layout):
    """Raises ``ValueError`` unless ``input_shape`` has ``rank`` axes (batch included)."""
    if len(input_shape) != rank:
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}' expects {rank}-D input {layout}, got shape "
            f"{tuple(input_shape)}. Reshape the input or insert the layer that produces this layout."
        )


def check_known(layer, input_shape, axes, what):
    """Raises ``ValueError`` if any of ``axes`` of ``input_shape`` is unknown (``None``)."""
    for axis in axes:
        if input_shape[axis] is None:
            raise ValueError(
                f"{type(layer).__name__} '{layer.name}' needs a known size for {what} (axis {axis}); got "
                f"input shape {tuple(input_shape)}. Give the model a fully specified input shape."
            )


MAX_NODES_PER_SCOPE = 2**20


def check_node_count(layer, num_nodes, formula, fix):
    """Raises ``ValueError`` if a layer would create more than ``MAX_NODES_PER_SCOPE`` nodes per scope.

    Beyond that the layer's output (and the weights of a sum above it) cannot
    fit in memory for any useful batch; the error gives the computed size.
    """
    if num_nodes > MAX_NODES_PER_SCOPE:
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}' would output {num_nodes:,} nodes per scope ({formula}), more than "
            f"the {MAX_NODES_PER_SCOPE:,} that fit in memory ({num_nodes:,} x 4 bytes per sample and scope, and as "
            f"many weights per sum above it). {fix}"
        )


def is_shape(shape):
    """Whether ``shape`` is a shape as Keras passes one to ``build`` / ``compute_output_shape``: a list or tuple
    of sizes (ints, ``None`` for unknown ones)."""
    return isinstance(shape, (list, tuple)) and all(size is None or isinstance(size, int) for size in shape)


def sizes_conflict(given, expected):
    """Whether two shapes (``None`` for a size not known) differ in rank or in a size both know."""
    return len(given) != len(expected) or any(
        g is not None and e is not None and g != e for g, e in zip(given, expected)
    )


def check_built_shape(layer, x):
    """Raises ``ValueError`` when ``x`` does not fit the shape ``layer`` was built for (batch and unknown axes aside).

    The layers reshape their input by the sizes they get, so a tensor of
    another shape would otherwise pass through silently (e.g. scopes folded
    into the batch, or one scope broadcast into many by a product of two
    inputs). A layer built for a list of inputs has each checked against its
    own shape.
    """
    built = (layer.get_build_config() or {}).get("input_shape")
    if (
        isinstance(x, (list, tuple))
        and isinstance(built, (list, tuple))
        and len(x) == len(built)
        and all(isinstance(shape, (list, tuple)) for shape in built)
    ):
        for tensor, shape in zip(x, built):
            _check_one_built_shape(layer, tensor, shape)
        return
    _check_one_built_shape(layer, x, built)


def _check_one_built_shape(layer, x, built):
    shape = getattr(x, "shape", None)
    if (
        built is None
        or shape is None
        or isinstance(built, dict)
        or not all(size is None or isinstance(size, int) for size in built)
    ):
        return
    given = tuple(None if size is None else int(size) for size in shape)
    if sizes_conflict(given[1:], tuple(built[1:])):
        raise ValueError(
            f"{layer_label(layer)} was built for input of shape {(None, *built[1:])} but got shape {given}. Feed "
            f"it tensors of the shape it was built for (the layers below fix it), or build a new layer for this shape."
        )
