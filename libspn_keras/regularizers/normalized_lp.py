"""An ``L_p`` penalty of the normalized sum weights, as a Keras regularizer."""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.arguments import check_bool, check_float
from libspn_keras.sum_ops.base import normalized_weights


@keras.utils.register_keras_serializable(package="libspn_keras")
class NormalizedLp(keras.regularizers.Regularizer):
    """``strength * sum of w ** p`` over the normalized weights of every sum.

    The ``L_1`` norm of normalized weights is 1 for every sum whatever the
    weights, so it cannot regularize; ``p < 1`` (default ``0.5``) is smallest
    for sparse sums and favours pruning children, ``p > 1`` favours spread-out
    weights. For gradient training (see :class:`NormalizedEntropy`).

    Args:
        strength: Factor of the penalty.
        p: Exponent, ``> 0``.
        logspace_accumulators: Whether the layer's accumulators are in log
            space; must match the layer (the layer refuses a mismatch when
            built).
    """

    def __init__(self, strength=0.01, p=0.5, logspace_accumulators=True):
        self.strength = check_float("NormalizedLp", "strength", strength)
        self.p = check_float("NormalizedLp", "p", p, minimum=0.0, min_open=True)
        self.logspace_accumulators = check_bool("NormalizedLp", "logspace_accumulators", logspace_accumulators)

    def __call__(self, accumulators):
        weights = normalized_weights(accumulators, self.logspace_accumulators)
        # The gradient of w ** p is infinite at w = 0 for p < 1: keep w away from exact zero.
        return self.strength * tf.reduce_sum(tf.pow(tf.maximum(weights, 1e-12), self.p))

    def get_config(self):
        return {"strength": self.strength, "p": self.p, "logspace_accumulators": self.logspace_accumulators}
