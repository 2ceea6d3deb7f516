"""A flat start for linear-space sum accumulators."""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.arguments import check_float, check_int


@keras.utils.register_keras_serializable(package="libspn_keras")
class EpsilonInverseFanIn(keras.initializers.Initializer):
    """Fills every value with ``epsilon / fan_in``, where ``fan_in = shape[axis]``.

    Meant for linear-space accumulators ``[*lead, children, sums]``: every sum
    starts with equal weights on all its children (a flat start), and with a
    total of only ``epsilon``, so the counts that expectation maximization
    adds soon outweigh the start. Every sum of a layer starts identical, so
    under plain (soft) EM they stay identical; break the symmetry with hard
    EM, dropout or a random initializer such as
    :class:`~libspn_keras.initializers.Dirichlet` where that matters.

    Args:
        axis: The children axis whose size is the fan-in; default ``-2``.
        epsilon: Total of the values along ``axis``, ``>= 0``. Default ``1e-4`` (as in 0.6.0).
            ``0`` gives zeros, as in 0.6.0: a linear-space sum layer floors
            them with its constraint (the default ``GreaterEqualEpsilon``, or
            0.6.0's ``GreaterEqualEpsilonNormalized``), which is again a flat
            start; log-space accumulators cannot start at ``log 0``.
    """

    def __init__(self, axis=-2, epsilon=1e-4):
        self.axis = check_int("EpsilonInverseFanIn", "axis", axis)
        # 0.6.0 took any number; negative values are no accumulators (counts), so those stay refused.
        self.epsilon = check_float("EpsilonInverseFanIn", "epsilon", epsilon, minimum=0.0)

    def __call__(self, shape, dtype=None):
        shape = tuple(shape)
        if not -len(shape) <= self.axis < len(shape):
            raise ValueError(f"EpsilonInverseFanIn: axis {self.axis} is out of range for shape {shape}.")
        fan_in = shape[self.axis]
        return tf.fill(shape, tf.constant(self.epsilon / fan_in, dtype or "float32"))

    def get_config(self):
        return {"axis": self.axis, "epsilon": self.epsilon}
