"""Sum ops: the strategies deciding how sum layers weigh children and what flows backward.

Identifiers accepted wherever a sum op is expected: an instance, a registered
name (``"grad"``, ``"em"``, ``"hard_em"``, ``"unweighted_hard_em"``,
``"sample"``), a :class:`~libspn_keras.BackpropMode`, a Keras serialization
dict, or ``None`` for the global default.
"""

from tensorflow import keras

from libspn_keras import config
from libspn_keras.backprop_mode import BackpropMode
from libspn_keras.config.sum_op import get_default_sum_op, set_default_sum_op
from libspn_keras.sum_ops.base import SumOpBase, registered_sum_ops
from libspn_keras.sum_ops.em import SumOpEMBackprop
from libspn_keras.sum_ops.grad import SumOpGradBackprop
from libspn_keras.sum_ops.hard_em import SumOpHardEMBackprop
from libspn_keras.sum_ops.sample import SumOpSampleBackprop
from libspn_keras.sum_ops.unweighted_hard_em import SumOpUnweightedHardEMBackprop

# 0.6.0's module paths, reachable as attributes after ``import libspn_keras`` as they were there.
from libspn_keras.sum_ops import (  # noqa: E402, F401  isort: skip
    em_backprop,
    grad_backprop,
    hard_em_backprop,
    sample_backprop,
    unweighted_hard_em_backprop,
)


def get(identifier, layer_name="sum op"):
    """Resolves ``identifier`` to a :class:`SumOpBase` instance.

    Args:
        identifier: An instance, a registered name, a
            :class:`~libspn_keras.BackpropMode`, a Keras serialization dict,
            or ``None`` for the global default (see :func:`set_default_sum_op`).
        layer_name: How the ``ValueError`` for an unknown identifier names
            the caller (e.g. the layer given the argument).

    Raises:
        ValueError: For an identifier that names no sum op.
    """
    if identifier is None:
        identifier = config.get_default("sum_op")
    if isinstance(identifier, SumOpBase):
        return identifier
    if isinstance(identifier, BackpropMode):
        identifier = identifier.value
    if isinstance(identifier, dict):
        sum_op = keras.utils.deserialize_keras_object(identifier)
        if isinstance(sum_op, SumOpBase):
            return sum_op
    if isinstance(identifier, str):
        registry = registered_sum_ops()
        key = identifier.lower()
        if key in registry:
            return registry[key]()
        for member in BackpropMode:
            if member.name.lower() == key:
                return registry[member.value]()
    raise ValueError(
        f"{layer_name}: unknown sum op {identifier!r}. Use one of {sorted(registered_sum_ops())}, a "
        f"BackpropMode member, or an instance of a SumOpBase subclass."
    )


def serialize(sum_op):
    """Keras-serializable form of a sum op."""
    return keras.utils.serialize_keras_object(sum_op)


# The defaults live in libspn_keras.config, below this package; it resolves sum ops through ``get``.
config.register_sum_op_resolver(get)


__all__ = [
    "SumOpBase",
    "SumOpEMBackprop",
    "SumOpGradBackprop",
    "SumOpHardEMBackprop",
    "SumOpSampleBackprop",
    "SumOpUnweightedHardEMBackprop",
    "get",
    "get_default_sum_op",
    "serialize",
    "set_default_sum_op",
]
