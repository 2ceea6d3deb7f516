"""The default constraint of linear-space accumulators."""

from libspn_keras.config.defaults import get_default, set_default
from libspn_keras.constraints.greater_equal_epsilon import GreaterEqualEpsilon
from libspn_keras.constraints.unconstrained import UNCONSTRAINED, stored_default_constraint


def set_default_linear_accumulators_constraint(op):
    """Sets the constraint ``op`` applied to linear-space accumulators after each update.

    ``None`` leaves them unconstrained, as in libspn-keras 0.6.0;
    :func:`~libspn_keras.config.set_default` with ``None`` restores the
    built-in ``GreaterEqualEpsilon()``.
    """
    set_default(
        "linear_accumulator_constraint", stored_default_constraint(op, "set_default_linear_accumulators_constraint")
    )


def get_default_linear_accumulators_constraint():
    """Constraint for linear-space accumulators: the one set globally, else ``GreaterEqualEpsilon()``."""
    constraint = get_default("linear_accumulator_constraint")
    if constraint is None:
        return GreaterEqualEpsilon()
    return None if constraint == UNCONSTRAINED else constraint
