"""Library-wide defaults read by every sum layer when an argument is left as ``None``.

Each default is stored under a name (see :data:`DEFAULT_NAMES`); a stored
``None`` means "the built-in default". The typed setters below validate what they
store; :mod:`libspn_keras.sum_ops` validates and resolves the sum op before
storing it. :func:`get_default` and :func:`set_default` read and write the
stored value itself, for code that saves and restores the configuration.
The built-in defaults come from :mod:`libspn_keras.initializers` and
:mod:`libspn_keras.constraints`, the only parts of the library imported here.
"""

import math

from tensorflow import keras

from libspn_keras.constraints.greater_equal_epsilon import GreaterEqualEpsilon
from libspn_keras.initializers.dirichlet import Dirichlet

_BUILT_IN = {
    "sum_op": "grad",
    "accumulator_initializer": None,
    "linear_accumulator_constraint": None,
    "logspace_accumulator_constraint": None,
}
_defaults = dict(_BUILT_IN)

DEFAULT_NAMES = tuple(_defaults)
"""Names of the stored defaults."""


def _checked_name(name):
    if name not in _defaults:
        raise ValueError(f"libspn_keras.config: unknown default {name!r}; the defaults are {list(DEFAULT_NAMES)}.")
    return name


def get_default(name):
    """The value stored for the default ``name`` (one of :data:`DEFAULT_NAMES`).

    ``None`` for a default that was not set (the layers then use the built-in
    one); the sum op's stored value is ``"grad"`` until one is set.
    """
    return _defaults[_checked_name(name)]


def set_default(name, value):
    """Stores ``value`` as the default ``name`` as it is, without validation; ``None`` restores the built-in.

    Meant for restoring a value read with :func:`get_default`; to change a
    default, use the typed setters (``set_default_accumulator_initializer``,
    ..., :func:`libspn_keras.sum_ops.set_default_sum_op`), which check it.
    """
    name = _checked_name(name)
    _defaults[name] = _BUILT_IN[name] if value is None else value


def set_default_accumulator_initializer(initializer):
    """Sets the initializer used by sum layers created without ``accumulator_initializer``."""
    set_default("accumulator_initializer", keras.initializers.get(initializer) if initializer is not None else None)


def get_default_accumulator_initializer(logspace_accumulators=True):
    """Initializer for new accumulators: the one set globally, else a built-in default.

    Initializers give linear accumulator values; layers with log-space
    accumulators store their log. The built-in defaults are values on
    [e^0.5, e^1.5] for log-space accumulators (logs on [0.5, 1.5]: nearly flat
    weights after the softmax) and ``Dirichlet(alpha=1)`` draws for linear
    ones, whose spread breaks the symmetry EM needs broken.
    """
    initializer = get_default("accumulator_initializer")
    if initializer is not None:
        return initializer
    if logspace_accumulators:
        return keras.initializers.RandomUniform(minval=math.exp(0.5), maxval=math.exp(1.5))
    return Dirichlet(alpha=1.0)


def set_default_linear_accumulators_constraint(constraint):
    """Sets the constraint applied to linear-space accumulators after each update."""
    set_default("linear_accumulator_constraint", keras.constraints.get(constraint) if constraint is not None else None)


def get_default_linear_accumulators_constraint():
    """Constraint for linear-space accumulators: the one set globally, else ``GreaterEqualEpsilon``."""
    constraint = get_default("linear_accumulator_constraint")
    if constraint is None:
        return GreaterEqualEpsilon()
    return constraint


def set_default_logspace_accumulators_constraint(constraint):
    """Sets the constraint applied to log-space accumulators (``None``: unconstrained)."""
    constraint = keras.constraints.get(constraint) if constraint is not None else None
    set_default("logspace_accumulator_constraint", constraint)


def get_default_logspace_accumulators_constraint():
    """Constraint for log-space accumulators; ``None`` unless one was set."""
    return get_default("logspace_accumulator_constraint")
