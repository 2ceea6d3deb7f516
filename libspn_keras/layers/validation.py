"""Build-time checks shared by the layers; every failure names the layer and the fix."""


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


def positive_int_pair(layer_name, argument, value):
    """Normalizes an int or a pair of ints to a tuple of two positive ints."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v >= 1 for v in pair):
        raise ValueError(f"{layer_name}: {argument} must be a positive int or a pair of positive ints, got {value!r}.")
    return pair


def positive_int(layer_name, argument, value):
    """Validates a positive int argument."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{layer_name}: {argument} must be an int >= 1, got {value!r}.")
    return value
