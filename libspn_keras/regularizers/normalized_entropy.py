"""Entropy of the normalized sum weights, as a Keras regularizer."""

import numpy as np
import tensorflow as tf
from tensorflow import keras

from libspn_keras.arguments import check_bool, check_float
from libspn_keras.sum_ops.base import normalized_weights


@keras.utils.register_keras_serializable(package="libspn_keras")
class NormalizedEntropy(keras.regularizers.Regularizer):
    """``strength * sum over sums of H(w)``, ``H(w) = -sum_c w_c log w_c`` of each sum's normalized weights.

    Pass as ``accumulator_regularizer=`` of a sum layer trained by gradients:
    a positive ``strength`` pushes every sum towards few children (sparse,
    near-deterministic mixtures), a negative one towards uniform weights.
    The penalty is added to the loss, so it suits gradient optimizers (EM
    optimizers apply counts, not loss gradients: a layer whose sum op sends
    EM counts is refused with a regularizer when training starts).

    Args:
        strength: Factor of the summed entropies (nats).
        logspace_accumulators: Whether the layer's accumulators are in log
            space (normalized by a softmax) or linear (divided by their sum);
            must match the layer (the layer refuses a mismatch when built).
    """

    def __init__(self, strength=0.01, logspace_accumulators=True):
        self.strength = check_float("NormalizedEntropy", "strength", strength)
        self.logspace_accumulators = check_bool("NormalizedEntropy", "logspace_accumulators", logspace_accumulators)

    def __call__(self, accumulators):
        # A weight of exactly 0 (a linear accumulator of 0, a log-space one of -inf) adds 0 to the entropy; its
        # log of -inf would make the gradient of the whole sum NaN, so the log is floored at the smallest normal.
        dtype = tf.as_dtype(accumulators.dtype)
        tiny = tf.constant(np.finfo(dtype.as_numpy_dtype).tiny, dtype)
        if self.logspace_accumulators:
            log_weights = tf.nn.log_softmax(accumulators, axis=-2)
            weights = tf.exp(log_weights)
            log_weights = tf.maximum(log_weights, tf.math.log(tiny))
        else:
            weights = normalized_weights(accumulators, False)
            log_weights = tf.math.log(tf.maximum(weights, tiny))
        entropy = -tf.reduce_sum(tf.math.multiply_no_nan(log_weights, weights))
        return self.strength * entropy

    def get_config(self):
        return {"strength": self.strength, "logspace_accumulators": self.logspace_accumulators}
