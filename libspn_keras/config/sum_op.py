"""The default sum op of sum layers created without ``sum_op``.

The sum ops themselves live above this package (in :mod:`libspn_keras.sum_ops`,
which reads the defaults); they hand this module the function that resolves
and validates a sum op when they are imported, which ``import libspn_keras``
always does.
"""

from libspn_keras.config.defaults import get_default, set_default

_resolvers = []


def register_sum_op_resolver(resolve):
    """Sets the function ``resolve(identifier, layer_name) -> sum op`` used by the two functions below."""
    _resolvers[:] = [resolve]


def _resolve(identifier, layer_name):
    if not _resolvers:
        raise RuntimeError("libspn_keras.config: no sum ops are registered; import libspn_keras first.")
    return _resolvers[0](identifier, layer_name=layer_name)


def set_default_sum_op(op):
    """Sets the sum op used by sum layers created without ``sum_op`` (validated now).

    Args:
        op: A :class:`~libspn_keras.sum_ops.SumOpBase` instance, a
            registered name (``"grad"``, ``"em"``, ...), a
            :class:`~libspn_keras.BackpropMode`, or ``None`` for the built-in
            default (gradients).
    """
    set_default("sum_op", None if op is None else _resolve(op, "set_default_sum_op"))


def get_default_sum_op():
    """The sum op used by sum layers created without ``sum_op``."""
    return _resolve(get_default("sum_op"), "get_default_sum_op")
