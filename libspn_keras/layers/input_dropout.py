"""Marginalizing random input variables during training."""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.base_leaf import missing_value
from libspn_keras.layers.cell_scopes import KeepsCellScopes
from libspn_keras.layers.full_precision import FullPrecisionLayer
from libspn_keras.layers.validation import check_float, check_seed, layer_label


@keras.utils.register_keras_serializable(package="libspn_keras")
class InputDropout(KeepsCellScopes, FullPrecisionLayer):
    """During training, marks each input variable unobserved with probability ``rate``.

    Place it before the leaf layer. Dropped entries become NaN (float inputs)
    or -1 (integer inputs), which every leaf treats as missing, so the SPN
    computes the marginal over the dropped variables. For input
    ``[batch, ..., d]`` of rank 3 or more, all ``d`` dimensions of a variable
    (the last axis) are dropped together; a flat ``[batch, vars]`` input (as
    taken by ``FlatToRegions``) drops every entry independently. Identity at
    inference.

    Args:
        rate: Probability of dropping each variable, in ``[0, 1]``.
        seed: Optional int seed.
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    # Position i of the output holds variable i of the input (see layers.cell_scopes.variable_source).
    keeps_variable_positions = True

    checks_built_shape = False  # elementwise: any shape

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_float(layer_label(self), "rate", rate, minimum=0.0, maximum=1.0)
        self.seed = check_seed(layer_label(self), "seed", seed)

    def call(self, x, training=False):
        if not training or self.rate == 0.0:
            return x
        if x.shape.rank == 2:
            # Flat input [batch, vars] (as taken by FlatToRegions): every entry is one variable.
            keep = tf.random.uniform(tf.shape(x), seed=self.seed) >= self.rate
        else:
            keep = tf.expand_dims(tf.random.uniform(tf.shape(x)[:-1], seed=self.seed) >= self.rate, axis=-1)
        try:
            missing = missing_value(x.dtype)
        except ValueError as error:
            raise ValueError(f"{layer_label(self)}: {error} InputDropout marks dropped variables missing.") from None
        return tf.where(keep, x, missing)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config
