"""Initial values checked when a layer creates its variables: every network starts as a distribution.

A variable with a constraint starts as the constraint leaves it (the same
projection every optimizer update gets), with a warning when that made an
invalid initial value valid (small valid values it moves, as every update
does, pass silently); what is still invalid then raises ``ValueError`` naming
the layer, the variable and the fix.
"""

import numpy as np
import tensorflow as tf

from libspn_keras.initializers.fitting import initial_values
from libspn_keras.user_warnings import warn


def checked_initializer(initializer, owner, variable, constraint=None, positive=False, fix=""):
    """Wraps ``initializer`` so that its values are constrained and checked when the variable is created.

    Args:
        initializer: A callable ``(shape, dtype=None) -> values``.
        owner: Who creates the variable, e.g. ``"NormalLeaf 'leaf'"``.
        variable: Name of the variable, e.g. ``"scale"``.
        constraint: Optional Keras constraint applied to the initial values.
        positive: Whether every value must be a positive normal number (scales,
            linear accumulators); otherwise values must be finite.
        fix: Sentence appended to the error, saying what to pass instead.

    Returns:
        A callable ``(shape, dtype=None) -> values`` for ``add_weight``.
    """

    def initialize(shape, dtype=None):
        with tf.init_scope():
            # Any layout with the variable's number of elements fills it, as in 0.6.0.
            values = initial_values(initializer, shape, dtype=dtype, owner=owner, variable=variable)
            if constraint is not None:
                given = values.numpy()
                try:
                    values = tf.convert_to_tensor(constraint(values), dtype=values.dtype)
                except ValueError as error:  # e.g. Clip with bounds of another shape
                    raise ValueError(f"{owner}: the constraint of '{variable}' cannot take it: {error}") from None
                _warn_if_repaired(given, values.numpy(), owner, variable, positive, constraint)
            _check(values.numpy(), owner, variable, positive, fix)
        return values

    return initialize


def _invalid(values, positive):
    """Entries that are not a valid value: non-finite, or (``positive``) below the smallest normal number."""
    if not np.issubdtype(values.dtype, np.floating):
        return np.zeros(values.shape, bool)
    if positive:
        return ~(np.isfinite(values) & (values >= np.finfo(values.dtype).tiny))
    return ~np.isfinite(values)


def _warn_if_repaired(given, constrained, owner, variable, positive, constraint):
    # Small positive values lifted by the constraint are what every update does; invalid ones deserve a warning.
    repaired = _invalid(given, positive) & ~_invalid(constrained, positive)
    if np.any(repaired):
        warn(
            f"{owner}: {int(np.count_nonzero(repaired))} initial value(s) of '{variable}' are not valid (e.g. "
            f"{given[repaired][:3].tolist()}); its constraint {type(constraint).__name__} sets them to "
            f"{constrained[repaired][:3].tolist()}. Pass an initializer of {'positive' if positive else 'finite'} "
            f"values to silence this warning."
        )


def _check(values, owner, variable, positive, fix):
    bad = _invalid(values, positive)
    count = int(np.count_nonzero(bad))
    if count:
        requirement = (
            f"positive and finite (at least {np.finfo(values.dtype).tiny:.3g}, the smallest normal number)"
            if positive
            else "finite"
        )
        raise ValueError(
            f"{owner}: the initial values of '{variable}' must be {requirement}; {count} of {values.size} are not "
            f"(e.g. {values[bad][:3].tolist()}), so the layer would not start as a distribution. {fix}".rstrip()
        )
