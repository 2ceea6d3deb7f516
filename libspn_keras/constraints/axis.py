"""Check of a constraint's ``axis`` against the variable it constrains."""


def check_axis(owner, axis, w):
    """Raises ``ValueError`` naming ``owner`` if ``axis`` is not an axis of ``w`` (rank known statically).

    Without it an out-of-range axis fails deep inside TensorFlow at the first
    optimizer step (a ``StridedSlice`` or reduction error that names no
    constraint).
    """
    shape = getattr(w, "shape", None)
    # A TensorShape of unknown rank has rank None (len() would raise); a tuple (NumPy, keras.Variable) has no rank.
    rank = shape.rank if hasattr(shape, "rank") else (len(shape) if shape is not None else None)
    if rank is not None and not -rank <= axis < rank:
        raise ValueError(
            f"{owner}: axis {axis} is not an axis of the constrained variable of shape {tuple(w.shape)}. Use the "
            f"children axis of sum accumulators, -2 (the default)."
        )
