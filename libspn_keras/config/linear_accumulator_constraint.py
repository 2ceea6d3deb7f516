"""The default constraint of linear-space accumulators."""

from tensorflow import keras

from libspn_keras.config.defaults import get_default, set_default
from libspn_keras.constraints.greater_equal_epsilon import GreaterEqualEpsilon


def set_default_linear_accumulators_constraint(op):
    """Sets the constraint ``op`` applied to linear-space accumulators after each update (``None``: the default)."""
    set_default("linear_accumulator_constraint", keras.constraints.get(op) if op is not None else None)


def get_default_linear_accumulators_constraint():
    """Constraint for linear-space accumulators: the one set globally, else ``GreaterEqualEpsilon``."""
    constraint = get_default("linear_accumulator_constraint")
    if constraint is None:
        return GreaterEqualEpsilon()
    return constraint
