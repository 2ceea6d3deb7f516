"""The default constraint of log-space accumulators."""

from tensorflow import keras

from libspn_keras.config.defaults import get_default, set_default


def set_default_logspace_accumulators_constraint(op):
    """Sets the constraint ``op`` applied to log-space accumulators (``None``: unconstrained)."""
    set_default("logspace_accumulator_constraint", keras.constraints.get(op) if op is not None else None)


def get_default_logspace_accumulators_constraint():
    """Constraint for log-space accumulators; ``None`` unless one was set."""
    return get_default("logspace_accumulator_constraint")
