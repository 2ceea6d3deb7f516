"""The marker for sum accumulators without a constraint."""

from libspn_keras.keras_objects import keras_object

UNCONSTRAINED = "unconstrained"
"""Passed as a sum layer's accumulator constraint (or stored as a default): no constraint at all.

A sum layer's ``None`` takes the library-wide default, as in libspn-keras
0.6.0, so this is how one layer opts out of it. Without a normalizing
constraint, log-space accumulators are the logits of a softmax and gradient
training differentiates through that softmax.
"""


def stored_default_constraint(op, owner):
    """``op`` as the config module stores a default accumulator constraint.

    ``None`` (0.6.0's "no constraint") and ``UNCONSTRAINED`` are stored as
    ``UNCONSTRAINED``, since a stored ``None`` means "the built-in default";
    anything else goes through ``keras.constraints.get`` (an error names
    ``owner``, the setter).
    """
    if op is None or (isinstance(op, str) and op == UNCONSTRAINED):
        return UNCONSTRAINED
    return keras_object(owner, "op", "constraint", op)
