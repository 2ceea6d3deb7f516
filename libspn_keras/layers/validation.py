"""Build-time checks shared by the layers; every failure names the layer and the fix."""

import numbers


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


def _is_positive_int(value):
    """Whether ``value`` is an integer >= 1 (Python or NumPy integer, not a bool)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def positive_int_pair(layer_name, argument, value):
    """Normalizes an int or a pair of ints to a tuple of two positive ints."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        pair = (value, value)
    else:
        try:
            pair = tuple(value)
        except TypeError:
            pair = ()
    if len(pair) != 2 or not all(_is_positive_int(v) for v in pair):
        raise ValueError(f"{layer_name}: {argument} must be a positive int or a pair of positive ints, got {value!r}.")
    return tuple(int(v) for v in pair)


def positive_int(layer_name, argument, value):
    """Validates a positive int argument (Python or NumPy integer) and returns it as a Python int."""
    if not _is_positive_int(value):
        raise ValueError(f"{layer_name}: {argument} must be an int >= 1, got {value!r}.")
    return int(value)
