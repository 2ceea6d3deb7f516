"""The default constraint of log-space accumulators."""

from tensorflow import keras

from libspn_keras.config.defaults import get_default, set_default
from libspn_keras.constraints.unconstrained import UNCONSTRAINED


def set_default_logspace_accumulators_constraint(op):
    """Sets the constraint ``op`` applied to log-space accumulators after each update (``None``: none)."""
    stored = UNCONSTRAINED if op is None or op == UNCONSTRAINED else keras.constraints.get(op)
    set_default("logspace_accumulator_constraint", stored)


def get_default_logspace_accumulators_constraint():
    """Constraint for log-space accumulators; ``None`` (unconstrained softmax logits) unless one was set."""
    constraint = get_default("logspace_accumulator_constraint")
    return None if constraint is None or constraint == UNCONSTRAINED else constraint
