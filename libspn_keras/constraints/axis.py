"""Check of a constraint's ``axis`` against the variable it constrains."""


def check_axis(owner, axis, w):
    """Raises ``ValueError`` naming ``owner`` if ``axis`` is not an axis of ``w`` (rank known statically).

    Without it an out-of-range axis fails deep inside TensorFlow at the first
    optimizer step (a ``StridedSlice`` or reduction error that names no
    constraint).
    """
    rank = getattr(getattr(w, "shape", None), "rank", None)
    if rank is None:
        rank = len(w.shape) if getattr(w, "shape", None) is not None else None
    if rank is not None and not -rank <= axis < rank:
        raise ValueError(
            f"{owner}: axis {axis} is not an axis of the constrained variable of shape {tuple(w.shape)}. Use the "
            f"children axis of sum accumulators, -2 (the default)."
        )
