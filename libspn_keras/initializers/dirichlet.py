"""Dirichlet-distributed sum weights."""

import tensorflow as tf
from tensorflow import keras


@keras.utils.register_keras_serializable(package="libspn_keras")
class Dirichlet(keras.initializers.Initializer):
    """Draws every sum's weights from a symmetric Dirichlet over the children axis (-2).

    Values are normalized (each ``[..., :, s]`` slice sums to 1), or their log
    when ``logspace=True``, ready for log-space accumulators.

    Args:
        alpha: Concentration, > 0; below 1 favours peaked weights, above 1 flat ones.
        logspace: Return log-weights instead of weights.
        seed: Optional int seed.
    """

    def __init__(self, alpha=1.0, logspace=False, seed=None):
        if not alpha > 0:
            raise ValueError(f"Dirichlet: alpha must be positive, got {alpha}.")
        self.alpha = float(alpha)
        self.logspace = bool(logspace)
        self.seed = seed

    def __call__(self, shape, dtype=None):
        dtype = dtype or "float32"
        draws = tf.random.gamma(shape, alpha=self.alpha, dtype=dtype, seed=self.seed)
        draws = tf.maximum(draws, tf.constant(1e-30, dtype))
        weights = draws / tf.reduce_sum(draws, axis=-2, keepdims=True)
        return tf.math.log(weights) if self.logspace else weights

    def get_config(self):
        return {"alpha": self.alpha, "logspace": self.logspace, "seed": self.seed}
