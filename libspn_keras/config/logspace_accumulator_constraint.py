"""The default constraint of log-space accumulators."""

from tensorflow import keras

from libspn_keras.config.defaults import get_default, set_default


def set_default_logspace_accumulators_constraint(constraint):
    """Sets the constraint applied to log-space accumulators (``None``: unconstrained)."""
    constraint = keras.constraints.get(constraint) if constraint is not None else None
    set_default("logspace_accumulator_constraint", constraint)


def get_default_logspace_accumulators_constraint():
    """Constraint for log-space accumulators; ``None`` unless one was set."""
    return get_default("logspace_accumulator_constraint")
