"""A flat start for linear-space sum accumulators."""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.arguments import check_int


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
        epsilon: Total of the values along ``axis``; must be positive. Default ``1e-4`` (as in 0.6.0).
    """

    def __init__(self, axis=-2, epsilon=1e-4):
        if not epsilon > 0:
            raise ValueError(f"EpsilonInverseFanIn: epsilon must be positive, got {epsilon}.")
        self.axis = check_int("EpsilonInverseFanIn", "axis", axis)
        self.epsilon = float(epsilon)

    def __call__(self, shape, dtype=None):
        shape = tuple(shape)
        if not -len(shape) <= self.axis < len(shape):
            raise ValueError(f"EpsilonInverseFanIn: axis {self.axis} is out of range for shape {shape}.")
        fan_in = shape[self.axis]
        return tf.fill(shape, tf.constant(self.epsilon / fan_in, dtype or "float32"))

    def get_config(self):
        return {"axis": self.axis, "epsilon": self.epsilon}
