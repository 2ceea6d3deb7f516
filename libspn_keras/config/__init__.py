"""Library-wide defaults read by every sum layer when an argument is left as ``None``.

One module per default, as in libspn-keras 0.6.0
(``libspn_keras.config.sum_op``, ``.accumulator_initializer``,
``.linear_accumulator_constraint``, ``.logspace_accumulator_constraint``),
over one store (:mod:`libspn_keras.config.defaults`).
"""

from libspn_keras.config.accumulator_initializer import (
    get_default_accumulator_initializer,
    set_default_accumulator_initializer,
)
from libspn_keras.config.defaults import DEFAULT_NAMES, get_default, set_default
from libspn_keras.config.linear_accumulator_constraint import (
    get_default_linear_accumulators_constraint,
    set_default_linear_accumulators_constraint,
)
from libspn_keras.config.logspace_accumulator_constraint import (
    get_default_logspace_accumulators_constraint,
    set_default_logspace_accumulators_constraint,
)
from libspn_keras.config.sum_op import get_default_sum_op, register_sum_op_resolver, set_default_sum_op

__all__ = [
    "DEFAULT_NAMES",
    "get_default",
    "get_default_accumulator_initializer",
    "get_default_linear_accumulators_constraint",
    "get_default_logspace_accumulators_constraint",
    "get_default_sum_op",
    "register_sum_op_resolver",
    "set_default",
    "set_default_accumulator_initializer",
    "set_default_linear_accumulators_constraint",
    "set_default_logspace_accumulators_constraint",
    "set_default_sum_op",
]
