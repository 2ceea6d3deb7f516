"""The default constraint of log-space accumulators."""

from libspn_keras.config.defaults import get_default, set_default
from libspn_keras.constraints.unconstrained import UNCONSTRAINED, stored_default_constraint


def set_default_logspace_accumulators_constraint(op):
    """Sets the constraint ``op`` applied to log-space accumulators after each update (``None``: none)."""
    set_default(
        "logspace_accumulator_constraint", stored_default_constraint(op, "set_default_logspace_accumulators_constraint")
    )


def get_default_logspace_accumulators_constraint():
    """Constraint for log-space accumulators; ``None`` (unconstrained softmax logits) unless one was set."""
    constraint = get_default("logspace_accumulator_constraint")
    return None if constraint is None or constraint == UNCONSTRAINED else constraint
