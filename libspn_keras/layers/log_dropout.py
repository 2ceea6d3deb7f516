"""Dropout of sum children in log space."""

import tensorflow as tf
from tensorflow import keras


@keras.utils.register_keras_serializable(package="libspn_keras")
class LogDropout(keras.layers.Layer):
    """During training, sets each log-value to ``-inf`` (probability 0) with probability ``rate``.

    Place it directly below a sum layer: the sum then mixes a random subset of
    its children. Not for the input of a product layer, whose output would be
    zeroed with its child. Identity at inference; no rescaling (weights are
    renormalized by the sums anyway).

    Args:
        rate: Probability of dropping each child, in ``[0, 1)``.
        seed: Optional int seed.
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"LogDropout '{self.name}': rate must be in [0, 1), got {rate}.")
        self.rate = float(rate)
        self.seed = seed

    def call(self, x, training=False):
        if not training or self.rate == 0.0:
            return x
        keep = tf.random.uniform(tf.shape(x), seed=self.seed, dtype=x.dtype) >= self.rate
        return tf.where(keep, x, tf.constant(-float("inf"), x.dtype))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config
