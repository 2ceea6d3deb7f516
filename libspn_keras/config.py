"""Library-wide defaults read by every sum layer when an argument is left as ``None``.

The values stored here are plain identifiers; :mod:`libspn_keras.sum_ops`
validates and resolves the sum op, so this module imports nothing of the library.
"""

import math

from tensorflow import keras

_defaults = {
    "sum_op": "grad",
    "accumulator_initializer": None,
    "linear_accumulator_constraint": None,
    "logspace_accumulator_constraint": None,
}


def _set(key, value):
    _defaults[key] = value


def _get(key):
    return _defaults[key]


def set_default_accumulator_initializer(initializer):
    """Sets the initializer used by sum layers created without ``accumulator_initializer``."""
    _set("accumulator_initializer", keras.initializers.get(initializer) if initializer is not None else None)


def get_default_accumulator_initializer(logspace_accumulators=True):
    """Initializer for new accumulators: the one set globally, else a built-in default.

    Initializers give linear accumulator values; layers with log-space
    accumulators store their log. The built-in defaults are values on
    [e^0.5, e^1.5] for log-space accumulators (logs on [0.5, 1.5]: nearly flat
    weights after the softmax) and ``Dirichlet(alpha=1)`` draws for linear
    ones, whose spread breaks the symmetry EM needs broken.
    """
    initializer = _get("accumulator_initializer")
    if initializer is not None:
        return initializer
    if logspace_accumulators:
        return keras.initializers.RandomUniform(minval=math.exp(0.5), maxval=math.exp(1.5))
    from libspn_keras.initializers.dirichlet import Dirichlet

    return Dirichlet(alpha=1.0)


def set_default_linear_accumulators_constraint(constraint):
    """Sets the constraint applied to linear-space accumulators after each update."""
    _set("linear_accumulator_constraint", keras.constraints.get(constraint) if constraint is not None else None)


def get_default_linear_accumulators_constraint():
    """Constraint for linear-space accumulators: the one set globally, else ``GreaterEqualEpsilon``."""
    constraint = _get("linear_accumulator_constraint")
    if constraint is None:
        from libspn_keras.constraints.greater_equal_epsilon import GreaterEqualEpsilon

        return GreaterEqualEpsilon()
    return constraint


def set_default_logspace_accumulators_constraint(constraint):
    """Sets the constraint applied to log-space accumulators (``None``: unconstrained)."""
    _set("logspace_accumulator_constraint", keras.constraints.get(constraint) if constraint is not None else None)


def get_default_logspace_accumulators_constraint():
    """Constraint for log-space accumulators; ``None`` unless one was set."""
    return _get("logspace_accumulator_constraint")
